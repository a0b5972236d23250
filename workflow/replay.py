"""Replay: a case's history (+ today) → state, violations, deadlines, next steps, paperwork.

The one function behind recording (check a proposed step against the history), the case page,
the alert sweep and the rubric. Records are replayed in the order they happened
(`occurred_on`, then recording order), after corrections are folded into the records they
correct, so a forgotten step recorded later lands where it belongs or is refused there.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from workflow import deadlines as dl
from workflow import machine
from workflow.calendar import DEFAULT_CALENDAR, WorkingCalendar, add_years
from workflow.facts import Facts
from workflow.history import (
    Deadline,
    DocumentRef,
    Invalid,
    NextStep,
    Paperwork,
    Replay,
    Responsible,
    RosterMember,
    StepRecord,
    Violation,
)
from workflow.rules import REGISTRY, STEP_RULES, RuleClass, RuleContext, step_article
from workflow.rulesets import DEFAULT_RULEBOOK, RuleBook
from workflow.steps import STEPS, Recorder, parse_date, validate_data

CORRECTION = "step_corrected"


def _invalid(rule: str, seq: int | None, detail: str = "",
             fields: Mapping[str, str] | None = None) -> Invalid:
    message = REGISTRY[rule].zh + (f"：{detail}" if detail else "")
    return Invalid(rule, seq, message, dict(fields or {}))


def _correct(rec: StepRecord, fields: Mapping[str, Any]) -> StepRecord:
    data = {**rec.data, **{k: v for k, v in fields.items() if k != "occurred_on"}}
    day = parse_date(fields["occurred_on"]) if "occurred_on" in fields else rec.occurred_on
    return replace(rec, occurred_on=day or rec.occurred_on, data=data)


def apply_corrections(records: Iterable[StepRecord],
                      invalid: list[Invalid]) -> list[StepRecord]:
    """Fold every step_corrected into its target; the corrections themselves are not replayed."""
    by_seq: dict[int, StepRecord] = {}
    for rec in sorted(records, key=lambda r: r.seq):
        if rec.step != CORRECTION:
            by_seq[rec.seq] = rec
            continue
        target = by_seq.get(rec.data.get("corrects", -1))
        fields = rec.data.get("fields")
        if target is None or not isinstance(fields, dict) or not fields:
            invalid.append(_invalid("correction_invalid", rec.seq, "更正对象不存在"))
            continue
        if "occurred_on" in fields and parse_date(fields["occurred_on"]) is None:
            invalid.append(_invalid("correction_invalid", rec.seq, "",
                                    {"occurred_on": "必须是有效日期"}))
            continue
        by_seq[target.seq] = _correct(target, fields)
    return list(by_seq.values())


class _Replayer:
    def __init__(self, book: RuleBook, calendar: WorkingCalendar,
                 roster: Mapping[int, RosterMember] | None, validate: bool, org: str,
                 applicant_member: int | None = None) -> None:
        self.book, self.calendar, self.roster, self.validate = book, calendar, roster, validate
        self.facts = Facts(org=org, applicant_member=applicant_member)
        self.state = machine.INITIAL_STATE
        self.done: set[str] = set()
        self.violations: list[Violation] = []
        self.invalid: list[Invalid] = []
        self.warnings: list[str] = []
        self.today = date.min
        self.effective: list[StepRecord] = []
        self.last_seq = 0  # the highest seq fed or not: a new record must come after it

    @property
    def stage(self) -> str:
        return machine.stage_of(self.state)

    def copy(self) -> _Replayer:
        """An independent replayer in the same state: feeding the copy leaves this one as it was."""
        other = copy.copy(self)
        other.facts = self.facts.copy()
        other.done, other.effective = set(self.done), list(self.effective)
        other.violations, other.invalid = list(self.violations), list(self.invalid)
        other.warnings = list(self.warnings)
        return other

    def feed(self, rec: StepRecord) -> None:
        problem = self._refusal(rec)
        if problem:
            self.invalid.append(problem)
            return
        try:
            new_state = machine.step(self.state, rec.step, rec.data)
        except machine.StepNotAllowed:
            self.invalid.append(_invalid("step_not_allowed", rec.seq, self._out_of_order(rec)))
            return
        self._check_rules(rec)
        self.facts.apply(rec, passed=_passed(rec))
        self.state = new_state
        self.done.add(rec.step)

    def _out_of_order(self, rec: StepRecord) -> str:
        """Where the case stands and, when one exists, the step to record first, with its
        article: what a secretary needs to fix the order, not only that it is wrong."""
        text = (f"{rec.occurred_on} 案件处于「{state_label(self.state)}」，"
                f"不能记录「{STEPS[rec.step].zh}」")
        first = machine.missing_step(self.state, rec.step)
        if first is None:
            return text
        article = step_article(first)
        return text + f"：应先记录「{STEPS[first].zh}」" + (f"（{article}）" if article else "")

    def _refusal(self, rec: StepRecord) -> Invalid | None:
        if rec.step not in STEPS or rec.step == CORRECTION:
            return _invalid("step_not_allowed", rec.seq, f"未知步骤 {rec.step}")
        if self.validate:
            errors = validate_data(rec.step, rec.data, self.roster)
            if errors:
                return _invalid("data_invalid", rec.seq, "", errors)
        if rec.step in self.done and not STEPS[rec.step].repeatable:
            return _invalid("step_already_recorded", rec.seq, STEPS[rec.step].zh)
        for rule in STEP_RULES.get(rec.step, ()):
            if rule.cls is RuleClass.INVALID and rule.check:
                detail = rule.check(RuleContext({}), self.facts, rec)
                if detail:
                    return _invalid(rule.id, rec.seq, detail)
        return None

    def _check_rules(self, rec: StepRecord) -> None:
        eff = self.book.on(rec.occurred_on)
        ctx = RuleContext(eff.settings, self.calendar, self.roster)
        for rule in STEP_RULES.get(rec.step, ()):
            if rule.cls is RuleClass.VIOLATION and rule.check and eff.enabled(rule.id):
                detail = rule.check(ctx, self.facts, rec)
                if detail:
                    responsible = rule.responsible or _recorder(rec)
                    self.violations.append(Violation(
                        rule.id, responsible, rec.seq, rec.occurred_on, str(detail),
                        due_on=getattr(detail, "due_on", None), org=self.facts.org))
        self._warn_calendar(rec)

    def _warn_calendar(self, rec: StepRecord) -> None:
        if rec.step in ("public_notice_held", "conversion_notice_held"):
            start, end = parse_date(rec.data.get("start_on")), parse_date(rec.data.get("end_on"))
            if start and end and self.calendar.working_days(start, end).unverified:
                self.warnings.append(
                    f"公示 {start} 至 {end} 涉及官方日历尚未公布的年份，工作日按周一至周五推算，"
                    "请管理员录入该年节假日安排后核实")


def _passed(rec: StepRecord) -> bool:
    return rec.step in ("admission_voted", "conversion_voted") and machine.CONDITIONS[
        "vote_passed"](rec.data)


def _recorder(rec: StepRecord) -> Responsible:
    fixed = _FIXED_RECORDER.get(rec.step)
    if fixed is not None:
        return fixed
    return Responsible(rec.recorded_by_role) if rec.recorded_by_role in (
        "branch", "committee") else Responsible.BRANCH


# the party that records each step, where it does not depend on who recorded it
_FIXED_RECORDER = {s.id: Responsible(s.recorder.value) for s in STEPS.values()
                   if s.recorder is not Recorder.EITHER}


def state_label(state: str) -> str:
    from workflow.states import STAGES  # local: labels only, keeps import order simple
    stage, _, sub = state.partition(machine.SEPARATOR)
    for module in STAGES:
        if module.STAGE == stage:
            return module.ZH + (f" · {module.SUBSTATES[sub]}" if sub else "")
    return "尚未申请"


_WANTED = {s.id: s.documents for s in STEPS.values() if s.documents}  # read per record


def paperwork(records: Sequence[StepRecord], documents: Iterable[DocumentRef],
              today: date, facts: Facts) -> list[Paperwork]:
    have: dict[int, set[str]] = {}
    for doc in documents:
        if doc.attached_on <= today:
            have.setdefault(doc.step_seq, set()).add(doc.doc_type)
    missing = []
    for rec in records:
        wanted = _WANTED.get(rec.step)
        if not wanted:
            continue
        got = have.get(rec.seq)
        lacking = wanted if got is None else tuple(d for d in wanted if d not in got)
        if lacking:
            missing.append(Paperwork(rec.seq, rec.step, rec.occurred_on, lacking,
                                     _recorder(rec), facts.org_on(rec.occurred_on)))
    return missing


def _earliest(step_id: str, f: Facts, book: RuleBook, calendar: WorkingCalendar) -> date:
    base = f.last_step_on or date.min
    special: date | None = None
    if step_id == "candidate_designated" and f.activist_on:
        special = add_years(f.activist_on, 1)
    elif step_id == "admission_voted" and book.on(base).settings.get("notice_before_admission"):
        special = _after_notice(f.notice.end_on if f.notice else None, f.pre_review_approved_on,
                                base, book, calendar)
    elif step_id == "conversion_voted" and f.probation_expiry:
        special = f.probation_expiry
    return max(base, special) if special else base


def _after_notice(notice_end: date | None, approved_on: date | None, base: date,
                  book: RuleBook, calendar: WorkingCalendar) -> date:
    if notice_end:
        return notice_end + timedelta(1)
    days = int(book.on(base).settings["notice_working_days"])
    end, _ = calendar.add_working_days(approved_on or base, days)
    return end + timedelta(1)


def next_steps(state: str, f: Facts, done: set[str], book: RuleBook,
               calendar: WorkingCalendar) -> list[NextStep]:
    result = []
    for step_id in machine.allowed_steps(state):
        if step_id in done and not STEPS[step_id].repeatable or step_id == CORRECTION:
            continue
        result.append(NextStep(step_id, _earliest(step_id, f, book, calendar)))
    return result


Folded = _Replayer  # a history fed up to a day, before the day's deadlines are derived


def fold(records: Iterable[StepRecord], today: date, *,
         roster: Mapping[int, RosterMember] | None = None,
         rulebook: RuleBook = DEFAULT_RULEBOOK,
         calendar: WorkingCalendar = DEFAULT_CALENDAR,
         validate: bool = True, org: str = "",
         applicant_member: int | None = None) -> Folded:
    """Feed a case's effective records as they stood on `today`: the costly half of a replay."""
    records = list(records)
    invalid: list[Invalid] = []
    effective = sorted((r for r in apply_corrections(records, invalid) if r.occurred_on <= today),
                       key=lambda r: (r.occurred_on, r.seq))
    r = _Replayer(rulebook, calendar, roster, validate, org, applicant_member)
    r.invalid, r.today, r.effective = invalid, today, effective
    r.last_seq = max((rec.seq for rec in records), default=0)
    for rec in effective:
        r.feed(rec)
    return r


def extend(folded: Folded, rec: StepRecord) -> Folded | None:
    """The fold with one more record, without feeding the history again, when the record is
    the one a full fold would feed last: a new step, recorded after every record of the
    history (the highest seq, so no stored correction can name it) and dated on or after the
    last effective one. None otherwise (a backdated step, a correction): then only a full
    fold puts it where it belongs.
    """
    last = folded.effective[-1].occurred_on if folded.effective else date.min
    if (rec.step == CORRECTION or rec.seq <= folded.last_seq
            or not last <= rec.occurred_on <= folded.today):
        return None
    r = folded.copy()
    r.effective.append(rec)
    r.last_seq = rec.seq
    r.feed(rec)
    return r


def finish(folded: Folded, documents: Iterable[DocumentRef] = ()) -> Replay:
    """Derive the day's deadlines, missed obligations, next steps and paperwork from a fold."""
    r, today, rulebook = folded, folded.today, folded.book
    f = r.facts
    obs = dl.obligations(f, rulebook, today)
    violations = r.violations + dl.missed(obs, f, today)
    return Replay(
        state=r.state, stage=r.stage, org=f.org,
        violations=tuple(violations), deadlines=tuple(dl.deadlines(obs, f, today)),
        next_steps=tuple(next_steps(r.state, f, r.done, rulebook, r.calendar)),
        paperwork=tuple(paperwork(r.effective, documents, today, f)),
        invalid=tuple(r.invalid), warnings=tuple(r.warnings), effective=tuple(r.effective),
        orgs=tuple(f.orgs))


def deadlines_of(folded: Folded) -> tuple[Deadline, ...]:
    """The fold's deadlines alone (what the alert rows store), without the rest of `finish`."""
    f, today = folded.facts, folded.today
    return tuple(dl.deadlines(dl.obligations(f, folded.book, today), f, today))


def replay(records: Iterable[StepRecord], today: date, *,
           documents: Iterable[DocumentRef] = (),
           roster: Mapping[int, RosterMember] | None = None,
           rulebook: RuleBook = DEFAULT_RULEBOOK,
           calendar: WorkingCalendar = DEFAULT_CALENDAR,
           validate: bool = True, org: str = "",
           applicant_member: int | None = None) -> Replay:
    """Derive everything about a case from its history as it stood on `today`."""
    return finish(fold(records, today, roster=roster, rulebook=rulebook, calendar=calendar,
                       validate=validate, org=org, applicant_member=applicant_member), documents)
