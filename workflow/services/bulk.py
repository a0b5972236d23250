"""Replaying many cases at once: one ordered read of their step rows and one of their
documents, instead of two queries per case (the N+1 that would dominate lists and reports)."""
from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa

from workflow.findings import Findings, of_fold
from workflow.history import DocumentRef, Replay, StepRecord
from workflow.persistence import case_ids, json_text
from workflow.persistence.driven_days import Days, as_driven
from workflow.persistence.driver_many import fetch_all
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow
from workflow.replay import fold, replay

T = TypeVar("T")
CHUNK = 500  # cases per round trip: keeps IN lists short on both databases


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def histories(ids: Sequence[int]) -> dict[int, list[StepRecord]]:
    """Each case's step records, from one read of the chunk (in no particular order: replay
    sorts them as it must anyway, by day and then recording order). The days come as the
    driver gives them and are made once per day, not once per row by SQLAlchemy, and the data
    is decoded by orjson: together about 7 % of a rebuild on SQLite."""
    found: dict[int, list[StepRecord]] = defaultdict(list)
    t = StepRecordRow.__table__  # Core columns: an ORM select costs three times as much per row
    rows = fetch_all(
        sa.select(t.c.id, t.c.case_id, t.c.step, as_driven(t.c.occurred_on),
                  json_text.as_text(t.c.data), t.c.recorded_by_role, t.c.note)
        .where(case_ids.among(t.c.case_id, ids)))  # no ORDER BY: replay orders them
    decoded, wanted, make, days = json_text.decoded_fast, frozenset(ids), StepRecord.stored, Days()
    for seq, case_id, step, on, data, role, note in rows:
        if case_id in wanted:
            found[case_id].append(make(seq, step, days[on], decoded(data) or {}, role, note))
    return found


def document_refs(ids: Sequence[int]) -> dict[int, list[DocumentRef]]:
    found: dict[int, list[DocumentRef]] = defaultdict(list)
    t = Document.__table__
    rows = db.session.execute(sa.select(t.c.case_id, t.c.step_record_id, t.c.doc_type,
                                        t.c.attached_on).where(case_ids.among(t.c.case_id, ids)))
    wanted = frozenset(ids)
    for case_id, seq, doc_type, on in rows:
        if case_id in wanted:
            found[case_id].append(DocumentRef(seq, doc_type, on))
    return found


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch builds many small objects.

    A bulk replay allocates several objects per step and keeps every replay until the report
    is built; the collector then rescans that growing heap again and again, which measured
    25-30 % of a full replay. Replays hold no reference cycles, so reference counting frees
    them as usual. The pause is process-wide: in a threaded web worker, cyclic garbage other
    threads make meanwhile waits (memory, not a leak) until the next full collection.

    On the way out what the batch made and still keeps is moved to the oldest generation
    unscanned (freeze, then unfreeze): left in the youngest, it was all scanned by the first
    collection after the pause (0.14-0.18 s of a 1.5 s scoring of 5,000 cases). Objects moved
    so do not count towards Python's own trigger of a full collection; a process that does
    little besides bulk work (a Celery worker taking chunk after chunk) would then keep cyclic
    garbage much longer, so a full collection runs once pauses have moved
    `FULL_COLLECTION_AFTER` objects since the last one.
    """
    global _moved
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            _moved += gc.get_count()[0]  # objects made since the last young collection
            gc.freeze()
            gc.unfreeze()
            gc.enable()
            if _moved > FULL_COLLECTION_AFTER:
                _moved = 0
                gc.collect()


FULL_COLLECTION_AFTER = 5_000_000  # about a 20,000-case report's worth, several times over
_moved = 0


Rows = Sequence[Case] | Sequence[tuple[int, int, str]]


def replay_cases(cases: Rows, as_of: date) -> dict[int, Replay]:
    """Replays keyed by case id; `cases` are Case rows or (id, branch_id, branch code) tuples."""
    with collector_paused():
        return _each_case(cases, as_of, _replayed)


def scored_cases(cases: Rows, as_of: date,
                 years: Collection[int] | None = None) -> dict[int, Findings]:
    """What the rubric reads of each case on `as_of` (`findings.of_fold`), keyed by case id:
    a replay's violations and paperwork without its deadlines and next steps; with `years`,
    only what the rubric counts in those years."""
    def scored(records: list[StepRecord], documents: list[DocumentRef], as_of: date,
               book: Any, calendar: Any, code: str) -> Findings:
        return of_fold(fold(records, as_of, rulebook=book, calendar=calendar, validate=False,
                            org=code), documents, years)
    with collector_paused():
        return _each_case(cases, as_of, scored)


def _replayed(records: list[StepRecord], documents: list[DocumentRef], as_of: date,
              book: Any, calendar: Any, code: str) -> Replay:
    return replay(records, as_of, documents=documents, rulebook=book, calendar=calendar,
                  validate=False, org=code)


def _each_case(cases: Rows, as_of: date, make: Callable[..., T]) -> dict[int, T]:
    triples = [(c.id, c.branch_id, c.branch.code) if isinstance(c, Case) else c for c in cases]
    calendar = repo.working_calendar()
    books: dict[int, Any] = {}
    result: dict[int, T] = {}
    for chunk in _chunks(triples):
        ids = [t[0] for t in chunk]
        records, docs = histories(ids), document_refs(ids)
        for case_id, branch_id, code in chunk:
            if branch_id not in books:
                books[branch_id] = repo.rulebook_for(branch_id)
            result[case_id] = make(records[case_id], docs[case_id], as_of, books[branch_id],
                                   calendar, code)
    return result
