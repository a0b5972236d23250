"""Replaying many cases at once: one ordered read of their step rows and one of their
documents, instead of two queries per case (the N+1 that would dominate lists and reports)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow import rubric
from workflow.history import DocumentRef, Replay, StepRecord
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, Organisation, StepRecordRow
from workflow.replay import replay

CHUNK = 500  # cases per round trip: keeps IN lists short on both databases


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def histories(ids: Sequence[int]) -> dict[int, list[StepRecord]]:
    """Each case's step records in recording order, from one ordered read of the chunk."""
    found: dict[int, list[StepRecord]] = defaultdict(list)
    rows = db.session.execute(
        sa.select(StepRecordRow.id, StepRecordRow.case_id, StepRecordRow.step,
                  StepRecordRow.occurred_on, StepRecordRow.data, StepRecordRow.recorded_by_role,
                  StepRecordRow.note)
        .where(StepRecordRow.case_id.in_(ids)).order_by(StepRecordRow.case_id, StepRecordRow.id))
    for r in rows:
        found[r.case_id].append(StepRecord(r.id, r.step, r.occurred_on, r.data or {},
                                           r.recorded_by_role, None, r.note))
    return found


def _documents(ids: Sequence[int]) -> dict[int, list[DocumentRef]]:
    found: dict[int, list[DocumentRef]] = defaultdict(list)
    rows = db.session.execute(sa.select(Document.case_id, Document.step_record_id, Document.doc_type,
                                        Document.attached_on).where(Document.case_id.in_(ids)))
    for r in rows:
        found[r.case_id].append(DocumentRef(r.step_record_id, r.doc_type, r.attached_on))
    return found


def replay_cases(cases: Sequence[Case] | Sequence[tuple[int, int, str]], as_of: date) -> dict[int, Replay]:
    """Replays keyed by case id; `cases` are Case rows or (id, branch_id, branch code) tuples."""
    triples = [(c.id, c.branch_id, c.branch.code) if isinstance(c, Case) else c for c in cases]
    calendar = repo.working_calendar()
    books: dict[int, Any] = {}
    result: dict[int, Replay] = {}
    for chunk in _chunks(triples):
        ids = [t[0] for t in chunk]
        records, docs = histories(ids), _documents(ids)
        for case_id, branch_id, code in chunk:
            if branch_id not in books:
                books[branch_id] = repo.rulebook_for(branch_id)
            result[case_id] = replay(records[case_id], as_of, documents=docs[case_id],
                                     rulebook=books[branch_id], calendar=calendar,
                                     validate=False, org=code)
    return result


def score_everything(as_of: date) -> int:
    """Replay every case and score every branch for as_of's year (the benchmark's workload)."""
    triples = [tuple(r) for r in db.session.execute(
        sa.select(Case.id, Case.branch_id, Organisation.code).join(Organisation, Case.branch_id == Organisation.id)
        .order_by(Case.id))]
    by_branch: dict[str, dict[int, Replay]] = defaultdict(dict)
    for chunk in _chunks(triples, 5000):
        for case_id, r in replay_cases(chunk, as_of).items():  # type: ignore[arg-type]
            for code, _ in r.orgs or ((r.org, None),):
                by_branch[code][case_id] = r
    for code, replays in by_branch.items():
        rubric.score(code, as_of.year, as_of, replays)
    return len(by_branch)
