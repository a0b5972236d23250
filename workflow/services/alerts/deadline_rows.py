"""Deadline rows: each open case's deadlines kept as rows (`deadlines`) and its findings on its
deadline set, rewritten in the transaction that changes the case, marked stale by a rule or
holiday change and rebuilt in chunks.

Replaying every open case each day would cost the whole history of the system per sweep, so the
sweep (`alerts.sweep`) and the alert list read these rows by an indexed range on `due_on`.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import import_module
from operator import attrgetter, itemgetter
from typing import Any

import sqlalchemy as sa

from workflow import alerts
from workflow import deadlines as dl
from workflow.findings import kept
from workflow.history import (
    DocumentRef,
    Replay,
    Responsible,
    StepRecord,
)
from workflow.persistence import json_text, reference
from workflow.persistence.case_ids import among
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.driven_days import Days, as_driven
from workflow.persistence.driver_many import execute_many, fetch_all
from workflow.persistence.models import (
    Case,
    DeadlineBackfill,
    DeadlineRow,
    DeadlineSet,
    Organisation,
    utcnow,
)
from workflow.replay import fold, obligations_of
from workflow.services import bulk_runs, clock
from workflow.services.alerts import findings_store

OPEN_STAGES = ("applicant", "activist", "candidate", "probationary")


# The widest alert window: a row due later than as_of + this cannot alert on as_of.
LOOKAHEAD_DAYS = max(max(w) for w in (*alerts.WINDOWS.values(), alerts.DEFAULT_WINDOW))
# Recurring windows are derived this far ahead, so an idle case's rows stay complete for about
# a year; the sweep rebuilds the sets whose `complete_until` has passed.
HORIZON_DAYS = 400
_HORIZON, _LOOKAHEAD = timedelta(days=HORIZON_DAYS), timedelta(days=LOOKAHEAD_DAYS)
_ON = attrgetter("occurred_on")


def refresh_deadlines(case: Case, replay_: Replay | None = None, *,
                      today: date | None = None, rulebook: Any = None,
                      calendar: Any = None,
                      documents: Sequence[DocumentRef] | None = None) -> int:
    """Rewrite `case`'s deadline rows and findings from its history. Flushes, never commits.

    Call it inside the transaction that changed the case (a step or a document), after the
    change is in the session, so rows and history commit together. `replay_` is the caller's
    replay of the changed history at today (its records are reused); without it the history
    is read again, as are the documents unless given. The rows are derived up to a horizon,
    not just today, so that the next assessment window already has a row before it comes due.
    `rulebook` and `calendar`, when the caller already read them for this case, save reading
    them again. Returns the number of deadline rows written.
    """
    if replay_ is None:
        _lock_set(case.id)  # first: serialises refreshers of one case before anything is read
        db.session.flush()
        db.session.refresh(case)
        records: Sequence[StepRecord] = [repo.to_record(r) for r in repo.step_rows(case.id)]
    else:
        # the history is this transaction's own write (the case row's version guard keeps
        # other writers out); the set row is still locked before any deadline row is touched
        records = replay_.effective
    if documents is None:
        documents = repo.to_documents(repo.document_rows(case.id))
    one = _derive_one(records, documents, today,
                      rulebook or repo.rulebook_for(case.branch_id),
                      calendar or repo.working_calendar(), case.chain_length)
    _lock_set(case.id, {"case_version": case.version, **one.set_values})
    db.session.execute(_delete_rows(), {"case_id": case.id})
    rows = _rows(case, one.shown) if one.shown else []
    if rows:  # Core executemany: one statement, whichever columns are NULL
        db.session.execute(_insert_rows(), rows)
    return len(rows)


@dataclass
class _One:
    """One case's shown obligations (its deadline rows; none for a closed case) and its set's
    values (known day, horizon, findings), derived."""
    shown: list[dl.Obligation]
    set_values: dict[str, Any]


def _derive_one(records: Sequence[StepRecord], documents: Sequence[DocumentRef],
                today: date | None, rulebook: Any, calendar: Any,
                chain_length: int | None) -> _One:
    """A case's history folded to the horizon: the obligations its deadline rows hold and its
    set's values; what a single refresh and a chunk both write. The rows are the obligations
    the case page shows as deadlines (`deadlines.shown`), written without the `Deadline`s."""
    known_on = max(map(_ON, records), default=None)
    start = max(today or clock.today(), known_on or date.min)
    horizon = start + _HORIZON
    derived = fold(records, horizon, rulebook=rulebook, calendar=calendar, validate=False)
    obligations = obligations_of(derived)  # once: the deadlines and the findings read them
    shown = dl.shown(obligations, derived.facts, horizon) if derived.stage in OPEN_STAGES \
        else []
    return _One(shown, {"known_on": known_on, "complete_until": horizon - _LOOKAHEAD,
                        **findings_store.set_values(kept(derived, documents, start, obligations),
                                                    chain_length)})


@functools.cache
def _delete_rows() -> Any:
    table = DeadlineRow.__table__
    return sa.delete(table).where(table.c.case_id == sa.bindparam("case_id"))


@functools.cache
def _insert_rows() -> Any:
    return sa.insert(DeadlineRow.__table__)


def _rows(case: Case, shown: Sequence[dl.Obligation]) -> list[dict[str, Any]]:
    return _rows_for(case.id, case.branch_id, repo.ancestors(case.branch_id)[-1], shown)


def _rows_for(case_id: int, branch_id: int, committee: int,
              shown: Sequence[dl.Obligation]) -> list[dict[str, Any]]:
    return [{"case_id": case_id, "rule": ob.rule, "kind": ob.kind, "due_on": ob.due_on,
             "responsible": ob.responsible.value,
             "org_id": committee if ob.responsible is Responsible.COMMITTEE else branch_id,
             "met": ob.met_on is not None, "met_on": ob.met_on} for ob in shown]


def _write_sets(derived: Derived, ids: Sequence[int]) -> None:
    """The sets of `ids` as derived (`derive`), inserted or overwritten in one statement on
    SQLite and PostgreSQL: the lock `refresh_deadlines` takes (on SQLite the database's write
    lock, on PostgreSQL the rows', taken in the order of `ids`, ascending, as every writer of
    many sets takes them, so that two never wait for each other). A stale mark is overwritten
    too: `write` checks the settings' stamp under this lock and derives again when they
    changed since."""
    sets = [derived.sets[i] for i in ids if i in derived.sets]
    dialect = sql_dialect()
    if dialect is None:
        for values in sets:
            _lock_set(values["case_id"])
        execute_many(_update_sets(), [{**values, "b_case_id": values["case_id"]}
                                      for values in sets])
        return
    execute_many(_upsert_set(dialect.__name__, True, False), sets)


def _lock_set(case_id: int, final: dict[str, Any] | None = None) -> None:
    """Insert-or-update the case's set row: the row lock orders concurrent refreshers.
    Without `final` (what the rows are being rebuilt from) it only touches the row."""
    values = {**_set_row(case_id, utcnow()), **(final or {})}
    changes = {k: v for k, v in values.items() if k != "case_id" and (final or k == "refreshed_at")}
    dialect = sql_dialect()
    if dialect is not None:
        db.session.execute(_upsert_set(dialect.__name__, final is not None), values)
        return
    exists = DeadlineSet.case_id == case_id
    fresh = _not_stale(DeadlineSet.__table__) if final else sa.true()
    done = changed(sa.update(DeadlineSet).where(exists, fresh).values(**changes))
    if done == 0 and db.session.execute(sa.select(DeadlineSet.case_id).where(exists)
                                        ).first() is None:
        db.session.execute(sa.insert(DeadlineSet).values(**values))


def _set_row(case_id: int, now: Any) -> dict[str, Any]:
    """A set row as a lock first inserts it: a placeholder (version -1) until the rows are
    written."""
    return {"case_id": case_id, "case_version": -1, "complete_until": date.min,
            "known_on": None, "refreshed_at": now, "findings": None, "findings_from": None,
            "chain_length": None, "findings_version": None}


def _not_stale(table: Any) -> Any:
    """A set a writer may overwrite: not marked stale by a rule or holiday change
    (`invalidate_deadlines`), or only the placeholder a lock inserted (version -1)."""
    return sa.or_(table.c.complete_until > date.min, table.c.case_version == -1)


def _bind_type(column: str) -> Any:
    """How a set column's value is written: the findings (strings, integers, days and the
    responsible party's enum in lists: `findings.kept`) by orjson (`json_text.Encoded`:
    json.dumps was 7 % of a rebuild), read back as the column's JSON."""
    if column == "findings":
        return json_text.Encoded(none_as_null=True)
    return DeadlineSet.__table__.c[column].type


@functools.cache
def _upsert_set(dialect_module: str, final: bool, keep_stale: bool = True) -> Any:
    """Built once per dialect: every write runs it. Without `final` it only touches the row
    (a lock); with it, it writes every column, leaving a stale set alone unless told not to."""
    table = DeadlineSet.__table__
    columns = ("case_id", "case_version", "complete_until", "known_on", "refreshed_at",
               "findings", "findings_from", "chain_length", "findings_version")
    stmt = import_module(dialect_module).insert(table).values(
        {c: sa.bindparam(c, type_=_bind_type(c)) for c in columns})
    changed = columns[1:] if final else ("refreshed_at",)
    # a set marked stale (a rule or holiday change committed after this writer read them)
    # stays stale: only a rebuild, which reads the settings after taking the lock, clears it
    where = _not_stale(table) if final and keep_stale else None
    return stmt.on_conflict_do_update(index_elements=["case_id"],
                                      set_={c: stmt.excluded[c] for c in changed},
                                      where=where)


def refresh_all_deadlines(today: date | None = None) -> int:
    """Rebuild every case's rows and findings now (after an upgrade that added them, or
    `rederive --fix`): closed cases have findings too, the rubric counts their past. A
    rule-setting or holiday change marks sets stale instead (`invalidate_deadlines`).

    A `rebuild` run of services/bulk_runs: on the Celery workers when the caller said so
    (`bulk_runs.using`: the command line), else chunk after chunk in this process."""
    run_id = bulk_runs.run("rebuild", {"today": today.isoformat() if today else None})
    return bulk_runs.status(run_id).cases


def _rebuild_prepare(first: int, last: int, params: dict[str, Any], _: Any) -> Any:
    today = date.fromisoformat(params["today"]) if params.get("today") else None
    ids = db.session.execute(sa.select(Case.id).where(Case.id.between(first, last))
                             .order_by(Case.id)).scalars().all()
    from workflow.services.bulk import collector_paused
    with collector_paused():  # many small objects: the collector would rescan them
        return derive(ids, today), today


def _rebuild_write(prepared: Any) -> tuple[int, Any]:
    derived, today = prepared
    return write(derived, today), None


def _rebuild_finished(run: Any) -> None:
    """The whole rebuild is recorded once, with the run that finished it: the catch-up
    (`catch_up`) no longer rebuilds everything."""
    db.session.add(DeadlineBackfill(cases=int(run.params.get("cases", 0))))


bulk_runs.register("rebuild", bulk_runs.Kind(_rebuild_prepare, _rebuild_write,
                                             _rebuild_finished))


def invalidate_deadlines(org_ids: Sequence[int] | None = None) -> int:
    """Rule settings or holidays changed: the rows of the cases they reach (under `org_ids`,
    or every case) may hold wrong due dates. One statement marks their sets for rebuilding
    (a horizon that has passed) instead of replaying them all inside the admin's request,
    which at 100k cases outlasts any web timeout; `rebuild_stale` (beat, every few minutes)
    and, failing that, the sweep's catch-up rebuild them before any alert is computed."""
    stmt = sa.update(DeadlineSet).values(complete_until=date.min)
    if org_ids is not None:
        stmt = stmt.where(DeadlineSet.case_id.in_(
            sa.select(Case.id).where(Case.branch_id.in_(list(org_ids))).scalar_subquery()))
    return changed(stmt.execution_options(synchronize_session=False))


def rebuild_stale(as_of: date | None = None) -> int:
    """Rebuild the sets marked stale (or past their horizon); cheap when there are none."""
    return catch_up(as_of or clock.today())


def stale_deadline_cases() -> list[int]:
    """Open cases whose rows are missing or were built from another version of the case, or
    whose findings missed a step or document since: for `flask rederive`, which checks every
    cache against the history (a full scan, on purpose), and for the concurrency tests."""
    s = DeadlineSet
    return list(db.session.execute(
        sa.select(Case.id).outerjoin(s, s.case_id == Case.id)
        .where(Case.stage.in_(OPEN_STAGES),
               sa.or_(s.case_id.is_(None), s.case_version != Case.version,
                      s.chain_length.is_distinct_from(Case.chain_length)))
        .order_by(Case.id)).scalars())


def _refresh_chunked(case_ids: Sequence[int], today: date | None = None) -> int:
    """Rebuild many cases' rows a chunk at a time (`derive` without a lock, then `write` in a
    short transaction of its own), in this process; bulk_runs runs the same two steps per
    chunk of a run on the Celery workers."""
    from workflow.services.bulk import CHUNK
    count = 0
    for start in range(0, len(case_ids), CHUNK):
        derived = derive(list(case_ids[start:start + CHUNK]), today)
        db.session.commit()  # end the read: the write below starts a transaction of its own
        count += write(derived, today)
        db.session.commit()
    return count


@dataclass
class Derived:
    """Some cases' deadline rows and set values, derived from what was read (no lock held), and
    what they were derived from: the reference stamp and each case's version and chain."""
    ids: list[int]
    stamp: int | None
    versions: dict[int, tuple[int, int | None]]
    rows: dict[int, list[dict[str, Any]]]
    sets: dict[int, dict[str, Any]]


def derive(case_ids: Sequence[int], today: date | None = None) -> Derived:
    """Replay `case_ids` (one read of their histories and documents) to the horizon: their
    rows and set values, nothing written. The fold is the cost of a rebuild; done outside the
    write transaction, it does not hold SQLite's one write lock, so several workers fold at
    once and take the lock only to write."""
    from workflow.services.bulk import document_refs
    from workflow.services.bulk import histories as read_histories
    reference.forget()  # the stamp of now, not of whatever this session read before
    stamp = reference.stamp()
    today = today or clock.today()  # once a chunk: the clock's lookup cost 5 µs a case
    now = utcnow()
    calendar = repo.working_calendar()
    root = committee_finder()
    books: dict[int, Any] = {}
    result = Derived(list(case_ids), stamp, {}, {}, {})
    wanted = frozenset(result.ids)
    cases = [case for case in db.session.execute(  # read by position below
        sa.select(Case.id, Case.branch_id, Case.version, Case.chain_length)
        .where(among(Case.id, result.ids))) if case[0] in wanted]
    ids = [case[0] for case in cases]
    histories, documents = read_histories(ids), document_refs(ids)
    versions, rows, sets = result.versions, result.rows, result.sets
    for case_id, branch_id, version, chain_length in cases:
        book = books.get(branch_id)
        if book is None:
            book = books[branch_id] = repo.rulebook_for(branch_id)
        one = _derive_one(histories[case_id], documents[case_id], today, book, calendar,
                          chain_length)
        versions[case_id] = (version, chain_length)
        rows[case_id] = _rows_for(case_id, branch_id, root(branch_id), one.shown)
        sets[case_id] = {"case_id": case_id, "case_version": version, "refreshed_at": now,
                         **one.set_values}
    return result


def write(derived: Derived, today: date | None = None) -> int:
    """Write what `derive` made, in the caller's transaction (no commit); the number of cases.

    First the cases' set rows are written as derived (`_write_sets`: the lock
    `refresh_deadlines` takes, on SQLite the database's write lock, on PostgreSQL the rows');
    then, under it, the reference stamp and each case's version and chain are read again. A
    rule or holiday change committed since the derivation re-derives the whole chunk; a case
    written since (a step, a document) is re-derived alone; their sets are written again,
    before the transaction ends, so no reader sees the first values. A writer that comes after
    the lock waits and refreshes its case after us, so the newer rows win, as with
    `refresh_deadlines`. (The lock was a statement of its own before the sets' final values:
    writing them as the lock saves one statement over every set of the chunk.) Then, still
    under the lock, only the cases whose stored rows differ from their derivation have their
    rows rewritten (`_stored_rows`)."""
    ids = derived.ids
    if not ids:
        return 0
    _write_sets(derived, ids)
    reference.forget()
    if reference.stamp() != derived.stamp:
        derived = derive(ids, today)
        _write_sets(derived, ids)
    else:
        now = {i: (v, n) for i, v, n in db.session.execute(
            sa.select(Case.id, Case.version, Case.chain_length).where(among(Case.id, ids)))}
        moved = [i for i in ids if now.get(i) != derived.versions.get(i)]
        if moved:
            again = derive(moved, today)
            for case_id in moved:
                derived.versions.pop(case_id, None)
                derived.rows.pop(case_id, None)
                derived.sets.pop(case_id, None)
            derived.versions.update(again.versions)
            derived.rows.update(again.rows)
            derived.sets.update(again.sets)
            _write_sets(again, moved)
    # only the cases whose rows differ from those stored are rewritten: a rebuild that changes
    # nothing (a rerun, an upgrade that changed no due date) writes no row twice
    stored, made = _stored_rows(ids), derived.rows
    changed = [i for i in ids if stored.get(i, []) != list(map(_ROW_FIELDS, made.get(i, ())))]
    if changed:
        table = DeadlineRow.__table__
        stale = [i for i in changed if i in stored]  # none on a first build: no DELETE
        if stale:
            db.session.execute(sa.delete(table).where(table.c.case_id.in_(stale)))
        # the driver's executemany: SQLAlchemy's per-row parameter processing (and the ORM's
        # bulk insert and update before it) cost more than the writes themselves
        execute_many(_insert_rows(), [row for i in changed for row in made.get(i, ())])
    return len(derived.versions)


_ROW_FIELDS = itemgetter("rule", "kind", "due_on", "responsible", "org_id", "met", "met_on")


def _stored_rows(ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    """The deadline rows `ids` have, as `_ROW_FIELDS` takes them from a derived row, in the
    order they were written. Read under the sets' lock (`write`), so no writer changes them
    meanwhile. `met` comes as SQLite's 0 or 1 or psycopg's bool: equal to the bool either way."""
    t = DeadlineRow.__table__
    found: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    days, wanted = Days(), frozenset(ids)
    for case_id, rule, kind, due_on, responsible, org_id, met, met_on in fetch_all(
            sa.select(t.c.case_id, t.c.rule, t.c.kind, as_driven(t.c.due_on), t.c.responsible,
                      t.c.org_id, t.c.met, as_driven(t.c.met_on))
            .where(among(t.c.case_id, ids)).order_by(t.c.case_id, t.c.id)):
        if case_id in wanted:
            found[case_id].append((rule, kind, days[due_on], responsible, org_id, met,
                                   None if met_on is None else days[met_on]))
    return found


@functools.cache
def _update_sets() -> Any:
    """`_write_sets` where the database has no INSERT … ON CONFLICT."""
    table = DeadlineSet.__table__
    return sa.update(table).where(table.c.case_id == sa.bindparam("b_case_id")).values(
        {c: sa.bindparam(c, type_=_bind_type(c))
         for c in ("case_version", "known_on", "complete_until", "refreshed_at", "findings",
                   "findings_from", "chain_length", "findings_version")})


def catch_up(as_of: date) -> int:
    """Rebuild the sets the sweep cannot trust for `as_of`: all of them when no full rebuild
    was ever recorded (a database from before deadline rows or findings), else only those
    whose horizon has passed or that were marked stale (an indexed range on `complete_until`)
    and those whose findings another version of the rule code made; closed cases' too: their
    findings keep the committee table from replaying them."""
    count = 0
    if db.session.execute(sa.select(DeadlineBackfill.id).limit(1)).first() is None:
        count += refresh_all_deadlines()
    expired = db.session.execute(
        sa.select(DeadlineSet.case_id)
        .where(sa.or_(DeadlineSet.complete_until < as_of, findings_store.outdated()))
        .order_by(DeadlineSet.case_id)).scalars().all()
    return count + _refresh_chunked(expired, max(clock.today(), as_of))


def sql_dialect() -> Any:
    """The dialect module with INSERT … ON CONFLICT (SQLite, PostgreSQL), or None."""
    name = db.session.get_bind().dialect.name
    return import_module(f"sqlalchemy.dialects.{name}") if name in ("sqlite", "postgresql") \
        else None


def changed(statement: Any) -> int:
    """Rows an UPDATE changed."""
    result: sa.CursorResult[Any] = db.session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount or 0)


def committee_finder() -> Callable[[int], int]:
    """org id → the committee at the top of its chain, from one read of the organisations."""
    parents: dict[int, int | None] = {
        org_id: parent for org_id, parent in
        db.session.execute(sa.select(Organisation.id, Organisation.parent_id))}

    def root(org_id: int) -> int:
        seen = {org_id}
        while (parent := parents.get(org_id)) is not None and parent not in seen:
            seen.add(parent)
            org_id = parent
        return org_id
    return root
