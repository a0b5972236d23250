"""The deadline sweep: turns the day's deadline rows into outbox rows, once.

The sweep reads, by an indexed range on `due_on`, only the rows that can be inside some alert
window for the day, and asks the same pure `alerts.level()` the alert list asks, so the two
cannot disagree.

Safe to run twice, concurrently or after a crash: each (case, rule, kind, due date, level) is
inserted at most once (a unique constraint backs it and the insert ignores conflicts), and a
case's alerts are always committed together (a chunk of cases per commit), so a rerun adds
exactly what is missing.
"""
from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from workflow import alerts
from workflow.history import (
    Deadline,
    DeadlineStatus,
    Responsible,
)
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    DeadlineBackfill,
    DeadlineRow,
    DeadlineSet,
    Notification,
    Organisation,
    utcnow,
)
from workflow.replay import replay
from workflow.rules import REGISTRY
from workflow.services.alerts.deadline_rows import (
    LOOKAHEAD_DAYS,
    OPEN_STAGES,
    catch_up,
    committee_finder,
    sql_dialect,
)

# Cases whose alerts one sweep statement inserts and one commit makes durable: large enough
# to amortise the round trips, small enough that a lock is never held for long.
SWEEP_CHUNK = 200
Due = tuple[Deadline, int]  # a deadline and the organisation that must act on it


def scan(as_of: date, *, pause: float = 0.0, chunk: int = SWEEP_CHUNK) -> dict[str, Any]:
    """Insert the outbox rows for every deadline in an alert window on `as_of`.

    Touches only deadline rows inside the window and, for a day before a case's latest step
    (a backfill), replays that case as it stood then. The alerts of `chunk` cases go in with
    one multi-row insert and one commit, never splitting a case; `pause` sleeps after each
    commit, to spread a very large sweep's writes."""
    refreshed = catch_up(as_of)
    root = committee_finder()
    cases = seen = created = 0
    batch: list[dict[str, Any]] = []
    in_batch = 0
    for case, due in itertools.chain(_stored(as_of), _replayed(as_of)):
        cases += 1
        in_batch += 1
        for d, org_id in due:
            lvl = alerts.level(d, as_of)
            if lvl is None:
                continue
            seen += 1
            batch.append(_alert(case, d, org_id, lvl, as_of, root(case.branch_id)))
        if in_batch >= chunk:
            created += _insert(batch)
            batch, in_batch = [], 0
            _commit(pause)
    if in_batch:
        created += _insert(batch)
        _commit(pause)
    return {"as_of": as_of.isoformat(), "cases": cases, "alerts": seen, "created": created,
            "refreshed": refreshed}


def _commit(pause: float) -> None:
    db.session.commit()
    if pause:
        time.sleep(pause)


class CaseRef(NamedTuple):
    """What an alert needs of its case; plain rows keep per-case commits from expiring a large
    identity map (a sweep over ORM entities slowed quadratically with the rows due)."""
    id: int
    branch_id: int
    person_name: str


def _may_alert(as_of: date) -> Any:
    """Rows that may alert on `as_of`, of open cases whose history does not go beyond it:
    unmet and due before the widest window closes (overdue ones included), or met but due
    inside the window (probation expiry alerts regardless). The sweep and the alert list."""
    last = as_of + timedelta(days=LOOKAHEAD_DAYS)
    d, s = DeadlineRow, DeadlineSet
    return sa.and_(sa.or_(sa.and_(d.met == sa.false(), d.due_on <= last),
                          sa.and_(d.met == sa.true(), d.due_on >= as_of, d.due_on <= last)),
                   d.kind.not_in(alerts.NOT_ALERTED), Case.stage.in_(OPEN_STAGES),
                   sa.or_(s.known_on.is_(None), s.known_on <= as_of))


def _stored(as_of: date) -> Iterator[tuple[CaseRef, list[Due]]]:
    """The rows that may alert on `as_of` (`_may_alert`), grouped by case."""
    d = DeadlineRow
    query = (
        sa.select(d.rule, d.kind, d.due_on, d.responsible, d.met, d.met_on, d.org_id,
                  Case.id, Case.branch_id, Case.person_name)
        .join(Case, Case.id == d.case_id)
        .join(DeadlineSet, DeadlineSet.case_id == d.case_id)
        .where(_may_alert(as_of))
        .order_by(d.case_id, d.due_on, d.id))
    rows = db.session.execute(query).all()
    for _, group in itertools.groupby(rows, key=lambda row: row.id):
        pairs = list(group)
        first = pairs[0]
        yield (CaseRef(first.id, first.branch_id, first.person_name),
               [(_deadline(row), row.org_id) for row in pairs])


def due_in(as_of: date, branch_ids: set[int]) -> list[tuple[int, str, Deadline]]:
    """(case id, branch code, deadline) of the open cases of some branches that may alert on
    `as_of`, without writing anything: GET /api/v1/alerts.

    The stored rows of every case whose set can be trusted for that day, as the sweep reads
    them; a replay of the others (no set yet, a set marked stale by a rule or holiday change
    or past its horizon, a history beyond `as_of`), which is what the sweep's catch-up would
    rebuild. A committee's list therefore costs its due rows, not its whole history."""
    from workflow.services.bulk import replay_cases
    if not branch_ids:
        return []
    ids = list(branch_ids)
    s, d, org = DeadlineSet, DeadlineRow, Organisation
    # what the sweep's catch-up would leave alone: the horizon not passed, not marked stale
    trusted = sa.and_(s.complete_until >= as_of,
                      sa.or_(s.known_on.is_(None), s.known_on <= as_of))
    if db.session.execute(sa.select(DeadlineBackfill.id).limit(1)).first() is None:
        trusted = sa.false()  # rows were never built for every case: replay them all
    found = [(row.case_id, row.code, _deadline(row)) for row in db.session.execute(
        sa.select(d.case_id, d.rule, d.kind, d.due_on, d.responsible, d.met, d.met_on, org.code)
        .join(Case, Case.id == d.case_id).join(s, s.case_id == d.case_id)
        .join(org, org.id == Case.branch_id)
        .where(_may_alert(as_of), Case.branch_id.in_(ids), trusted))]
    untrusted = db.session.execute(
        sa.select(Case.id, Case.branch_id, org.code).join(org, org.id == Case.branch_id)
        .outerjoin(s, s.case_id == Case.id)
        .where(Case.branch_id.in_(ids), Case.stage.in_(OPEN_STAGES),
               sa.or_(s.case_id.is_(None), sa.not_(trusted)))
        .order_by(Case.id)).all()
    for case_id, r in replay_cases([tuple(row) for row in untrusted], as_of).items():
        found += [(case_id, r.org, dl) for dl in r.deadlines]
    return found


def _deadline(row: Any) -> Deadline:
    # level() asks only whether a deadline is met; the rest of its status depends on the day.
    status = DeadlineStatus.MET if row.met else DeadlineStatus.UPCOMING
    return Deadline(row.rule, row.kind, row.due_on, Responsible(row.responsible), status,
                    met_on=row.met_on)


def _replayed(as_of: date) -> Iterator[tuple[CaseRef, list[Due]]]:
    """Cases whose history goes beyond `as_of` (only when sweeping a past day): as they stood."""
    later = [CaseRef(*row) for row in db.session.execute(
        sa.select(Case.id, Case.branch_id, Case.person_name)
        .join(DeadlineSet, DeadlineSet.case_id == Case.id)
        .where(DeadlineSet.known_on > as_of, Case.stage.in_(OPEN_STAGES))
        .order_by(Case.id))]
    root = committee_finder()
    calendar = repo.working_calendar()
    for case in later:
        records = [repo.to_record(r) for r in repo.step_rows(case.id)]
        r = replay(records, as_of, rulebook=repo.rulebook_for(case.branch_id), calendar=calendar,
                   validate=False)
        committee = root(case.branch_id)
        yield case, [(d, committee if d.responsible is Responsible.COMMITTEE else case.branch_id)
                     for d in r.deadlines]


def _alert(case: CaseRef, d: Deadline, org_id: int, lvl: str, as_of: date,
           committee: int) -> dict[str, Any]:
    branch_owned = d.responsible is not Responsible.COMMITTEE
    escalate = committee if lvl.startswith("overdue") and branch_owned else None
    return {"case_id": case.id, "rule": d.rule, "kind": d.kind, "due_on": d.due_on,
            "level": lvl, "responsible": d.responsible.value, "org_id": org_id,
            "escalated_to_id": escalate, "created_on": as_of, "created_at": utcnow(),
            "message": f"{case.person_name}：{REGISTRY[d.rule].zh}（{d.due_on} 到期）"}


@functools.cache
def _outbox_keys_query() -> Any:
    n = Notification.__table__.c
    return sa.select(n.case_id, n.rule, n.kind, n.due_on, n.level).where(
        n.case_id.in_(sa.bindparam("case_ids", expanding=True)))


def _insert(values: list[dict[str, Any]]) -> int:
    """Insert what is not there yet; returns how many rows were new. The unique constraint
    on (case, rule, kind, due date, level) makes a rerun or a concurrent sweep a no-op.

    Most of a day's alerts were already written on an earlier day (an item stays overdue at
    one level for weeks), so the chunk's existing keys are read first (indexed by case) and
    only the others are sent; the constraint still settles a race with a concurrent sweep."""
    if values:
        have = {tuple(r) for r in db.session.execute(
            _outbox_keys_query(), {"case_ids": sorted({v["case_id"] for v in values})})}
        values = [v for v in values if (v["case_id"], v["rule"], v["kind"], v["due_on"],
                                        v["level"]) not in have]
    if not values:
        return 0
    table = Notification.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_arrays(values)
    dialect = sql_dialect()
    if dialect is not None:
        # SQLite: executemany with RETURNING, sent by SQLAlchemy as multi-row INSERTs; a row
        # that conflicts returns nothing, so the count is of rows really inserted
        stmt = dialect.insert(table).on_conflict_do_nothing().returning(table.c.id)
        return len(db.session.execute(stmt, values).all())
    created = 0
    for row in values:
        try:
            with db.session.begin_nested():
                db.session.execute(sa.insert(table).values(**row))
            created += 1
        except sa_exc.IntegrityError:  # a concurrent sweep inserted it first
            pass
    return created


_OUTBOX_COLUMNS = (("case_id", "integer"), ("rule", "varchar"), ("kind", "varchar"),
                   ("due_on", "date"), ("level", "varchar"), ("responsible", "varchar"),
                   ("org_id", "integer"), ("escalated_to_id", "integer"), ("message", "text"),
                   ("created_on", "date"), ("created_at", "timestamp"))


@functools.cache
def _insert_arrays_statement() -> Any:
    """One short statement whatever the number of rows: a multi-row VALUES list is parsed
    again by psycopg for every batch (that parse was most of a sweep's time at 100k cases)."""
    columns = ", ".join(c for c, _ in _OUTBOX_COLUMNS)
    arrays = ", ".join(f"CAST(:{c} AS {t}[])" for c, t in _OUTBOX_COLUMNS)
    return sa.text(f"INSERT INTO notifications ({columns}) SELECT * FROM unnest({arrays}) "
                   "ON CONFLICT DO NOTHING RETURNING id")


def _insert_arrays(values: list[dict[str, Any]]) -> int:
    """PostgreSQL: the rows as one array per column, unnested into the insert."""
    params = {c: [v[c] for v in values] for c, _ in _OUTBOX_COLUMNS}
    return len(db.session.execute(_insert_arrays_statement(), params).all())
