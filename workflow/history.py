"""The value types that flow through the core: recorded history in, derived facts out.

They are plain frozen dataclasses so that persistence, the API and tests can build them
without knowing anything about the machine or the rules.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class Responsible(StrEnum):
    BRANCH = "branch"
    COMMITTEE = "committee"


class DeadlineStatus(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    MET = "met"


@dataclass(frozen=True)
class StepRecord:
    """One recorded step. `seq` orders records made on the same date (the database id)."""

    seq: int
    step: str
    occurred_on: date
    data: Mapping[str, Any] = field(default_factory=dict)
    recorded_by_role: str = "branch"
    recorded_at: datetime | None = None
    note: str | None = None
    recorded_by_member: int | None = None  # roster member of the person who recorded it
    exempt: frozenset[str] = frozenset()  # separation rules waived by a named exemption
    decided_by_member: int | None = None  # a committee decision: the roster member who decided

    @classmethod
    def stored(cls, seq: int, step: str, occurred_on: date, data: Mapping[str, Any],
               recorded_by_role: str, note: str | None) -> StepRecord:
        """The record as a bulk read makes it, its other fields at their defaults: the same
        value as the constructor's, made in a third of the time (see `_frozen`)."""
        return _frozen(cls, {"seq": seq, "step": step, "occurred_on": occurred_on, "data": data,
                             "recorded_by_role": recorded_by_role, "note": note})

    def answerable(self) -> list[tuple[str, int]]:
        """Who answers for the record under the separation rules, labelled: the person who
        decided (a committee decision) and the person who recorded it, each once."""
        found = [("决定人", self.decided_by_member)] if self.decided_by_member is not None else []
        if self.recorded_by_member is not None and self.recorded_by_member != self.decided_by_member:
            found.append(("记录人", self.recorded_by_member))
        return found


@dataclass(frozen=True)
class DocumentRef:
    """An uploaded file or a paper document marked "on file" for one step record."""

    step_seq: int
    doc_type: str
    attached_on: date


@dataclass(frozen=True)
class RosterMember:
    id: int
    name: str
    status: str  # "full" | "probationary"
    since: date
    org: str = ""

    def full_on(self, day: date) -> bool:
        return self.status == "full" and self.since <= day


@dataclass(frozen=True)
class Violation:
    """A procedure miss: on a step record (`step_seq`) or a deadline that passed (`due_on`)."""

    rule: str
    responsible: Responsible
    step_seq: int | None
    on: date
    detail: str = ""
    due_on: date | None = None
    org: str = ""

    @classmethod
    def missed(cls, rule: str, responsible: Responsible, due_on: date, org: str) -> Violation:
        """A deadline that passed unmet, made faster (see `_frozen`): a rebuild makes every
        miss a case may ever count, about five a case."""
        return _frozen(cls, {"rule": rule, "responsible": responsible, "step_seq": None,
                             "on": due_on, "detail": missed_detail(due_on), "due_on": due_on,
                             "org": org})

    @property
    def key(self) -> tuple[str, int | None, date | None]:
        return (self.rule, self.step_seq, self.due_on)


@dataclass(frozen=True)
class Invalid:
    """Why a history (or a proposed step) cannot be accepted; `fields` maps field -> reason."""

    rule: str
    step_seq: int | None
    message: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deadline:
    rule: str
    kind: str
    due_on: date
    responsible: Responsible
    status: DeadlineStatus
    org: str = ""
    met_on: date | None = None
    unverified: bool = False


@dataclass(frozen=True)
class NextStep:
    step: str
    earliest_on: date
    reason: str = ""


@dataclass(frozen=True)
class Paperwork:
    """Documents a recorded step lists but does not have on the replay date."""

    step_seq: int
    step: str
    on: date
    missing: tuple[str, ...]
    responsible: Responsible
    org: str = ""

    @classmethod
    def of(cls, step_seq: int, step: str, on: date, missing: tuple[str, ...],
           responsible: Responsible, org: str) -> Paperwork:
        """The constructor's value, made faster (see `_frozen`): a replay makes one for every
        document a record lacks, about ten a case."""
        return _frozen(cls, {"step_seq": step_seq, "step": step, "on": on, "missing": missing,
                             "responsible": responsible, "org": org})


_new = object.__new__


def _frozen(cls: Any, values: dict[str, Any]) -> Any:
    """A frozen dataclass made without its `__init__`, for the values bulk reads and replays
    make by the ten thousand: that sets each field through `object.__setattr__` (the price of
    `frozen`), which for a step record cost more than reading its row. Fields left out read
    their defaults, which dataclasses keep as class attributes; equality, hashing, `replace`
    and the refusal of assignment work as on any instance."""
    made = _new(cls)
    made.__dict__.update(values)
    return made


def missed_detail(due_on: date | str) -> str:
    """What a deadline that passed unmet says, from its due date or that date's ISO text (as
    kept findings hold it: `findings.decode`)."""
    return f"{due_on} 到期未完成"


def org_at(orgs: Sequence[tuple[date, str]], day: date, default: str) -> str:
    """The branch that held a case on a day, from its (from-date, branch) timeline."""
    held = None
    for since, org in orgs:  # asked once per step: no list, no copy
        if since <= day:
            held = org
    return held if held is not None else (orgs[0][1] if orgs else default)


def attended_courses(records: Iterable[StepRecord]) -> frozenset[int]:
    """The training courses a case's effective records show it attended (rubric item 14)."""
    return frozenset(rec.data.get("training_id") for rec in records
                     if rec.step == "training_attended" and rec.data.get("attended") is True)


@dataclass(frozen=True)
class Replay:
    state: str
    stage: str
    org: str
    violations: tuple[Violation, ...]
    deadlines: tuple[Deadline, ...]
    next_steps: tuple[NextStep, ...]
    paperwork: tuple[Paperwork, ...]
    invalid: tuple[Invalid, ...]
    warnings: tuple[str, ...]
    effective: tuple[StepRecord, ...]
    orgs: tuple[tuple[date, str], ...] = ()

    def org_on(self, day: date) -> str:
        return org_at(self.orgs, day, self.org)

    @property
    def attended(self) -> frozenset[int]:
        return attended_courses(self.effective)

    @property
    def valid(self) -> bool:
        return not self.invalid

    def violations_of(self, seq: int) -> list[Violation]:
        return [v for v in self.violations if v.step_seq == seq]
