"""What a case's history has established so far, in the terms the rules speak.

Replay folds each effective step record into a `Facts`; rules and deadlines then read dates
from it instead of searching the history again, which keeps a full replay linear.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

from workflow.calendar import add_months, add_years
from workflow.history import StepRecord, org_at
from workflow.steps import parse_date


@dataclass
class Notice:
    start_on: date
    end_on: date
    objections: str
    seq: int


@dataclass
class Facts:
    org: str = ""
    applied_on: date | None = None
    birth_date: date | None = None
    interviewed_on: date | None = None
    activist_on: date | None = None
    activist_filed_on: date | None = None
    activist_assessments: list[date] = field(default_factory=list)
    candidate_on: date | None = None
    candidate_filed_on: date | None = None
    introducers: tuple[int, ...] = ()
    cultivators: tuple[int, ...] = ()
    applicant_member: int | None = None  # the applicant's own roster entry, once they have one
    review_submitter: int | None = None  # who recorded the passed branch committee review
    political_pass_on: date | None = None
    training_days: int = 0
    training_hours: float = 0.0
    branch_review_pass_on: date | None = None
    pre_review_approved_on: date | None = None
    notice: Notice | None = None
    form_on: date | None = None
    admission_vote_on: date | None = None
    committee_interview_on: date | None = None
    approved_on: date | None = None
    oath_on: date | None = None
    probation_assessments: list[date] = field(default_factory=list)
    extension_months: int = 0
    extensions: int = 0
    transferred_in_probation: bool = False
    conversion_requested_on: date | None = None
    conversion_notice: Notice | None = None
    conversion_vote_on: date | None = None
    conversion_vote_seq: int | None = None
    conversion_outcome: str | None = None
    pending_extend: int = 0
    conversion_resolution_on: date | None = None
    probation_ended_on: date | None = None
    full_member_on: date | None = None
    closed_on: date | None = None
    last_step_on: date | None = None
    orgs: list[tuple[date, str]] = field(default_factory=list)  # (from, branch) after transfers

    def copy(self) -> Facts:
        """A copy a replay can go on feeding: the lists are the only parts changed in place."""
        return replace(self, activist_assessments=list(self.activist_assessments),
                       probation_assessments=list(self.probation_assessments),
                       orgs=list(self.orgs))

    def org_on(self, day: date) -> str:
        """The branch that held the case on that day (a transfer moves the case, not its past)."""
        return org_at(self.orgs, day, self.org)

    @property
    def probation_expiry(self) -> date | None:
        """Probation runs from the admission vote, a year plus any extension (art. 28, 32)."""
        if self.admission_vote_on is None:
            return None
        return add_months(add_years(self.admission_vote_on, 1), self.extension_months)

    def apply(self, rec: StepRecord, passed: bool) -> None:
        apply = _APPLY.get(rec.step)
        if apply:
            apply(self, rec, passed)
        self.last_step_on = rec.occurred_on


def handler(step: str) -> Callable[[Facts, StepRecord, bool], None] | None:
    """How a step changes the facts (besides `last_step_on`, which every step moves); None for
    a step that establishes nothing. Replay looks it up once per step id, not per record."""
    return _APPLY.get(step)


def day_in(value: object) -> date | None:
    """`steps.parse_date`, remembered for text: replay reads the same few thousand dates in
    every history (notices, trainings, birth dates), and the parse costs more than a lookup."""
    if isinstance(value, str):
        return _parsed(value)
    return parse_date(value)


@lru_cache(maxsize=1 << 14)
def _parsed(text: str) -> date | None:
    return parse_date(text)


def _d(rec: StepRecord, key: str) -> date:
    value = day_in(rec.data.get(key))
    assert value is not None, f"{rec.step}.{key} was validated before replay"
    return value


def _application(f: Facts, rec: StepRecord, _: bool) -> None:
    f.applied_on = rec.occurred_on
    f.birth_date = day_in(rec.data.get("person", {}).get("birth_date"))
    f.org = str(rec.data.get("branch", f.org))
    f.orgs.append((rec.occurred_on, f.org))


def _set(attr: str) -> Callable[[Facts, StepRecord, bool], None]:
    def apply(f: Facts, rec: StepRecord, _: bool) -> None:
        setattr(f, attr, rec.occurred_on)
    return apply


def _when(attr: str, key: str, value: Any) -> Callable[[Facts, StepRecord, bool], None]:
    def apply(f: Facts, rec: StepRecord, _: bool) -> None:
        if rec.data.get(key) == value:
            setattr(f, attr, rec.occurred_on)
    return apply


def _review(f: Facts, rec: StepRecord, _: bool) -> None:
    if rec.data.get("result") == "pass":
        f.branch_review_pass_on, f.review_submitter = rec.occurred_on, rec.recorded_by_member


def _trained(f: Facts, rec: StepRecord, _: bool) -> None:
    f.training_days += (_d(rec, "end_on") - _d(rec, "start_on")).days + 1
    f.training_hours += float(rec.data.get("hours", 0))


def _pre_review(f: Facts, rec: StepRecord, _: bool) -> None:
    approved = rec.data.get("decision") == "approved"
    f.pre_review_approved_on = rec.occurred_on if approved else None
    if not approved:
        f.branch_review_pass_on = None


def _notice(attr: str) -> Callable[[Facts, StepRecord, bool], None]:
    def apply(f: Facts, rec: StepRecord, _: bool) -> None:
        setattr(f, attr, Notice(_d(rec, "start_on"), _d(rec, "end_on"),
                                str(rec.data["objections"]), rec.seq))
    return apply


def _admission_vote(f: Facts, rec: StepRecord, passed: bool) -> None:
    if passed:
        f.admission_vote_on = rec.occurred_on


def _admission_approved(f: Facts, rec: StepRecord, _: bool) -> None:
    if rec.data.get("decision") == "approved":
        f.approved_on = rec.occurred_on
    else:
        f.admission_vote_on = None


def _conversion_vote(f: Facts, rec: StepRecord, passed: bool) -> None:
    if passed:
        f.conversion_vote_on, f.conversion_vote_seq = rec.occurred_on, rec.seq
        f.conversion_outcome = str(rec.data.get("outcome"))
        f.pending_extend = int(rec.data.get("extend_months") or 0)
        if f.conversion_outcome != "extend":
            f.probation_ended_on = rec.occurred_on


def _conversion_approved(f: Facts, rec: StepRecord, _: bool) -> None:
    if rec.data.get("decision") != "approved":
        f.conversion_vote_on = f.conversion_outcome = f.probation_ended_on = None
        return
    f.conversion_resolution_on = rec.occurred_on
    if f.conversion_outcome == "extend":
        f.extensions += 1
        f.extension_months += f.pending_extend
        f.conversion_vote_on = f.conversion_outcome = None
        f.conversion_requested_on = f.conversion_notice = None
    elif f.conversion_outcome == "convert":
        f.full_member_on = f.probation_expiry
    else:
        f.closed_on = rec.occurred_on


def _transferred(f: Facts, rec: StepRecord, _: bool) -> None:
    f.org = str(rec.data["to_branch"])
    f.orgs.append((rec.occurred_on, f.org))
    if f.approved_on is not None and f.probation_ended_on is None:
        f.transferred_in_probation = True


def _closed(f: Facts, rec: StepRecord, _: bool) -> None:
    f.closed_on = rec.occurred_on


_APPLY: dict[str, Callable[[Facts, StepRecord, bool], None]] = {
    "application_submitted": _application,
    "applicant_interviewed": _set("interviewed_on"),
    "activist_designated": _set("activist_on"),
    "activist_filed": _set("activist_filed_on"),
    "activist_assessed": lambda f, r, _: f.activist_assessments.append(r.occurred_on),
    "candidate_designated": _set("candidate_on"),
    "candidate_filed": _set("candidate_filed_on"),
    "introducers_assigned": lambda f, r, _: setattr(f, "introducers",
                                                    tuple(r.data["introducers"])),
    "cultivators_assigned": lambda f, r, _: setattr(f, "cultivators",
                                                    tuple(r.data["cultivators"])),
    "political_review_concluded": _when("political_pass_on", "conclusion", "pass"),
    "candidate_trained": _trained,
    "branch_committee_reviewed": _review,
    "pre_review_decided": _pre_review,
    "public_notice_held": _notice("notice"),
    "application_form_completed": _set("form_on"),
    "admission_voted": _admission_vote,
    "committee_interviewed": _set("committee_interview_on"),
    "admission_approved": _admission_approved,
    "oath_taken": _set("oath_on"),
    "probation_assessed": lambda f, r, _: f.probation_assessments.append(r.occurred_on),
    "conversion_requested": _set("conversion_requested_on"),
    "conversion_notice_held": _notice("conversion_notice"),
    "conversion_voted": _conversion_vote,
    "conversion_approved": _conversion_approved,
    "case_transferred": _transferred,
    "case_closed": _closed,
}
