"""Reads that turn rows into the core's value types (history, documents, roster, rules)."""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from workflow.calendar import WorkingCalendar
from workflow.history import DocumentRef, RosterMember, StepRecord
from workflow.persistence import reference
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Document,
    HolidayOverride,
    Organisation,
    RuleSetting,
    StepRecordRow,
)
from workflow.persistence.models import (
    RosterMember as RosterRow,
)
from workflow.rulesets import Override, RuleBook, rulebook


def to_record(row: StepRecordRow) -> StepRecord:
    return StepRecord(row.id, row.step, row.occurred_on, row.data or {}, row.recorded_by_role,
                      row.recorded_at, row.note, row.recorded_by_member_id,
                      frozenset(row.exemptions or ()), row.decided_by_member_id)


# Statements every read or write of a case runs are built once, with bound parameters:
# composing a statement costs SQLAlchemy more than running one of these on an index.

@functools.cache
def _step_rows_query(bounded: bool) -> Any:
    query = db.select(StepRecordRow).where(StepRecordRow.case_id == sa.bindparam("case_id"))
    if bounded:
        query = query.where(StepRecordRow.case_version <= sa.bindparam("version"))
    return query.order_by(StepRecordRow.id)


def step_rows(case_id: int, up_to_version: int | None = None) -> list[StepRecordRow]:
    """The case's records; `up_to_version` keeps the snapshot consistent with a case row read
    earlier, so a concurrent writer shows up as a version conflict, not as a changed history."""
    return list(db.session.execute(_step_rows_query(up_to_version is not None),
                                   {"case_id": case_id, "version": up_to_version}).scalars())


@functools.cache
def _step_records_query() -> Any:
    t = StepRecordRow.__table__
    return sa.select(t).where(t.c.case_id == sa.bindparam("case_id")).order_by(t.c.id)


def step_records(case_id: int) -> list[Any]:
    """The case's records as plain rows (every column, by name), for readers that only read
    them (the case page): half the cost of ORM objects."""
    return list(db.session.execute(_step_records_query(), {"case_id": case_id}))


@functools.cache
def _document_rows_query() -> Any:
    t = Document.__table__  # plain rows: every reader only reads their columns
    return sa.select(t).where(t.c.case_id == sa.bindparam("case_id")).order_by(t.c.id)


def document_rows(case_id: int) -> list[Any]:
    """The case's documents as plain rows (every column, by name), in attaching order."""
    return list(db.session.execute(_document_rows_query(), {"case_id": case_id}))


def to_documents(rows: Iterable[Any]) -> list[DocumentRef]:
    return [DocumentRef(d.step_record_id, d.doc_type, d.attached_on) for d in rows]


# Roster, rule settings and holidays are read on every case read and write only to be turned
# into value types: plain Core rows (same attribute names), without the ORM's identity map,
# which cost more than the queries themselves.

@functools.cache
def _roster_query() -> Any:
    t = RosterRow.__table__
    return sa.select(t).where(t.c.org_id == sa.bindparam("org_id"))


def roster_rows(org_id: int) -> dict[int, Any]:
    """The branch's roster as plain rows (id, name, status, since, person_case_id …) by id,
    kept per process (persistence.reference)."""
    return dict(reference.kept(("roster", org_id), lambda: {
        r.id: r for r in db.session.execute(_roster_query(), {"org_id": org_id})}))


def to_member(r: Any) -> RosterMember:
    return RosterMember(r.id, r.name, r.status, r.since)


def roster(org_id: int) -> dict[int, RosterMember]:
    return {r.id: to_member(r) for r in roster_rows(org_id).values()}


def ancestors(org_id: int) -> list[int]:
    """The organisation and its parents, root last: one recursive query along this chain only
    (it runs in every write, so it must not read every organisation), kept per process."""
    return list(reference.kept(("ancestors", org_id), lambda: tuple(_read_chain(org_id))))


def _read_chain(org_id: int) -> list[int]:
    parents = dict(db.session.execute(_chain_query(), {"org_id": org_id}).all())
    chain, current = [], org_id
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


@functools.cache
def _chain_query() -> Any:
    """Built once: composing a recursive CTE costs more than running it."""
    org = Organisation.__table__
    up = db.select(org.c.id, org.c.parent_id).where(org.c.id == db.bindparam("org_id")) \
        .cte("up", recursive=True)
    up = up.union(db.select(org.c.id, org.c.parent_id).join(up, org.c.id == up.c.parent_id))
    # UNION (not UNION ALL) stops at a repeated row, so even a cyclic chain ends
    return db.select(up.c.id, up.c.parent_id)


def rulebook_for(org_id: int) -> RuleBook:
    """Settings of the committee apply to its branches; a branch's own settings win."""
    return reference.kept(("rulebook", org_id), lambda: _read_rulebook(org_id))


def _read_rulebook(org_id: int) -> RuleBook:
    chain = ancestors(org_id)
    rows = db.session.execute(_settings_query(), {"orgs": chain}).all()
    depth = {oid: i for i, oid in enumerate(chain)}
    ordered = sorted(rows, key=lambda r: (-depth[r.org_id], r.effective_from, r.id))
    return rulebook(Override(r.effective_from, r.key, r.value) for r in ordered)


@functools.cache
def _settings_query() -> Any:
    t = RuleSetting.__table__
    return sa.select(t).where(t.c.org_id.in_(sa.bindparam("orgs", expanding=True)))


@functools.cache
def _holidays_query() -> Any:
    t = HolidayOverride.__table__
    return sa.select(t.c.day, t.c.is_workday)


def working_calendar() -> WorkingCalendar:
    """The official calendar plus the admin's table; a year with entries counts as known."""
    return reference.kept("calendar", _read_calendar)


def _read_calendar() -> WorkingCalendar:
    rows = db.session.execute(_holidays_query()).all()
    overrides = {r.day: r.is_workday for r in rows}
    return WorkingCalendar(overrides, {d.year for d in overrides})


def held_by_any(org_ids: Iterable[int]) -> Any:
    """Every case a set of branches may have held, as a condition: theirs now, and any
    transferred one (its past counts for the branch that held it then)."""
    moved = sa.select(StepRecordRow.case_id).where(StepRecordRow.step == "case_transferred")
    # a union, not an OR: `branch IN … OR id IN (…)` read every case row on PostgreSQL;
    # UNION ALL: the IN needs no duplicates removed (a committee's table holds every case)
    theirs = sa.select(Case.id).where(Case.branch_id.in_(sorted(org_ids)))
    return Case.id.in_(sa.union_all(theirs, moved).scalar_subquery())
