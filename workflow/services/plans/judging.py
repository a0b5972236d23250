"""Plan against actual: the passed admission votes, approvals and pipeline of branches in a
year, read from the recorded histories, and what workflow/plans.py makes of them (over-plan
findings, item 13's plan deductions, the verdict on a vote being recorded).

The votes are read from the cases with an admission vote recorded within a year of the asked
years: their votes, approvals and corrections only (corrections folded in), and a full replay
only of those ever transferred, whose votes count for the branch that held them that day.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow import machine, plans
from workflow.history import Replay, StepRecord, Violation
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, DeadlineRow, Organisation, StepRecordRow
from workflow.replay import apply_corrections
from workflow.rubric import Deduction
from workflow.services.bulk import replay_cases
from workflow.services.clock import today
from workflow.services.plans.store import plans_of


@dataclass
class Year:
    """One branch's year as the plan sees it."""

    org: str
    admissions: list[plans.Admission] = field(default_factory=list)  # passed admission votes
    held: list[plans.Admission] = field(default_factory=list)  # every admission vote held
    approved: list[tuple[int, date]] = field(default_factory=list)  # (case, approval day)


def _voted_cases(org_ids: Iterable[int], years: list[int]) -> list[tuple[int, int, str]]:
    lo, hi = date(min(years) - 1, 1, 1), date(max(years) + 1, 12, 31)
    t = StepRecordRow.__table__
    # per held case (by the index on step and case), not every vote of those years first
    voted = sa.select(t.c.case_id).where(t.c.case_id == Case.id, t.c.step == "admission_voted",
                                         t.c.occurred_on.between(lo, hi)).exists()
    rows = db.session.execute(
        sa.select(Case.id, Case.branch_id, Organisation.code).join(Organisation)
        .where(repo.held_by_any(org_ids), voted).order_by(Case.id)).all()
    return [(r[0], r[1], r[2]) for r in rows]


def years_of(branches: list[Organisation], years: list[int],
             as_of: date) -> dict[tuple[str, int], Year]:
    """Per (branch code, year): its passed admission votes and approved admissions."""
    found = {(b.code, y): Year(b.code) for b in branches for y in years}
    if not branches or not years:
        return found
    voted = _voted_cases([b.id for b in branches], years)
    records = _vote_records([c[0] for c in voted])
    moved = []
    # a case never transferred was held by its branch on every day: its votes and approvals
    # are read from those records alone (corrections folded in), without replaying it
    for case in voted:
        case_id, _, code = case
        if any(r.step == "case_transferred" for r in records[case_id]):
            moved.append(case)
            continue
        effective = apply_corrections(records[case_id], [])
        _count(found, case_id, effective, lambda day, code=code: code, as_of)
    for case_id, r in replay_cases(moved, as_of).items():
        _count(found, case_id, list(r.effective), r.org_on, as_of)
    return found


_READ = ("admission_voted", "admission_approved", "step_corrected", "case_transferred")


def _vote_records(ids: list[int]) -> dict[int, list[StepRecord]]:
    """The records the plan reads of each case: votes, approvals, corrections, transfers."""
    found: dict[int, list[StepRecord]] = defaultdict(list)
    t = StepRecordRow.__table__
    for i in range(0, len(ids), 500):  # short IN lists on both databases
        for seq, case_id, step, on, data, role in db.session.execute(
                sa.select(t.c.id, t.c.case_id, t.c.step, t.c.occurred_on, t.c.data,
                          t.c.recorded_by_role)
                .where(t.c.case_id.in_(ids[i:i + 500]), t.c.step.in_(_READ))):
            found[case_id].append(StepRecord(seq, step, on, data or {}, role))
    return found


def _count(found: dict[tuple[str, int], Year], case_id: int, effective: list[StepRecord],
           org_on: Callable[[date], str], as_of: date) -> None:
    for rec in effective:
        if rec.occurred_on > as_of:
            continue
        if rec.step == "admission_voted":
            key = (org_on(rec.occurred_on), rec.occurred_on.year)
            if key not in found:
                continue
            vote = plans.Admission(case_id, rec.seq, rec.occurred_on, key[0])
            found[key].held.append(vote)
            if machine.CONDITIONS["vote_passed"](rec.data):
                found[key].admissions.append(vote)
        elif rec.step == "admission_approved" and rec.data.get("decision") == "approved":
            key = (org_on(rec.occurred_on), rec.occurred_on.year)
            if key in found:
                found[key].approved.append((case_id, rec.occurred_on))


def required_for(branch_id: int) -> Any:
    """Whether the rules in force on a day ask the branch for a plan (1990: no)."""
    book = repo.rulebook_for(branch_id)
    return lambda day: book.on(day).enabled(plans.RULE)


def deductions(branches: list[Organisation], years: list[int],
               as_of: date) -> dict[tuple[str, int], list[Deduction]]:
    """Item 13's plan deductions per (branch code, year)."""
    found: dict[tuple[str, int], list[Deduction]] = defaultdict(list)
    seen = years_of(branches, years, as_of)
    for year in years:
        kept = plans_of([b.id for b in branches], year)
        for b in branches:
            found[b.code, year] = plans.deductions(b.code, year, kept.get(b.id),
                                                   seen[b.code, year].admissions,
                                                   required_for(b.id), seen[b.code, year].held)
    return found


def over_plan_of_case(case: Case, r: Replay) -> list[Violation]:
    """The case's passed admission votes that went over their branch's plan: shown on the
    case page with the case's own findings."""
    mine = plans.admissions_of(case.id, r)
    if not mine:
        return []
    found = []
    for a in mine:
        branch = db.session.execute(db.select(Organisation).filter_by(code=a.org)).scalar_one()
        required = required_for(branch.id)
        plan = plans_of([branch.id], a.on.year).get(branch.id)
        # what `over_plan` would find for this vote without reading the year's votes (4 ms on
        # every view at a million cases): nothing without a plan, or without the plan rule
        if plan is None or not required(a.on):
            continue
        year = years_of([branch], [a.on.year], today())[a.org, a.on.year]
        found += [v for v in plans.over_plan(plan, year.admissions, required)
                  if v.step_seq == a.step_seq]
    return found


def verdict(case: Case, org: str, proposed: plans.Admission) -> Violation | None:
    """Would this passing admission vote, about to be recorded, go over the plan?"""
    branch = db.session.execute(db.select(Organisation).filter_by(code=org)).scalar_one()
    year = proposed.on.year
    if not required_for(branch.id)(proposed.on):
        return None
    plan = plans_of([branch.id], year).get(branch.id)
    # every passed vote already recorded counts, this case's own earlier one too (a second
    # vote after a rejected admission): as the rubric will count them
    done = years_of([branch], [year], today())[org, year].admissions
    return plans.verdict(plan, done, proposed)


VOTED = "candidate.voted"  # passed its admission vote: counted as voted, not in the pipeline


def pipeline(branch_ids: list[int]) -> dict[int, list[plans.Prospect]]:
    """Open activists and candidates of each branch still to hold a passing admission vote,
    with the dates that bound it (from the kept deadline rows: earliest candidacy, and the
    end of a notice)."""
    cases = db.session.execute(
        sa.select(Case.id, Case.branch_id, Case.stage).where(
            Case.branch_id.in_(branch_ids), Case.stage.in_(("activist", "candidate")),
            Case.state != VOTED)).all()
    dates: dict[tuple[int, str], date] = {}
    if cases:
        for case_id, kind, due in db.session.execute(
                sa.select(DeadlineRow.case_id, DeadlineRow.kind, DeadlineRow.due_on).where(
                    DeadlineRow.case_id.in_([c[0] for c in cases]),
                    DeadlineRow.kind.in_(("earliest_candidacy", "earliest_vote")))):
            dates[case_id, kind] = due
    found: dict[int, list[plans.Prospect]] = defaultdict(list)
    for case_id, branch_id, stage in cases:
        found[branch_id].append(plans.Prospect(
            case_id, stage, dates.get((case_id, "earliest_candidacy")),
            dates.get((case_id, "earliest_vote"))))
    return found
