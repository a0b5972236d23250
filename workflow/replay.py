"""Replay: a case's history (+ today) → state, violations, deadlines, next steps, paperwork.

The one function behind recording (check a proposed step against the history), the case page,
the alert sweep and the rubric. Records are replayed in the order they happened
(`occurred_on`, then recording order), after corrections are folded into the records they
correct, so a forgotten step recorded later lands where it belongs or is refused there.
"""
from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from operator import attrgetter
from typing import Any

from workflow import deadlines as dl
from workflow import machine
from workflow.calendar import DEFAULT_CALENDAR, WorkingCalendar, add_years
from workflow.citations import Article
from workflow.facts import Facts, day_in
from workflow.facts import handler as facts_handler
from workflow.history import (
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
from workflow.messages import Message
from workflow.rules import (
    REGISTRY,
    STEP_RULES,
    Rule,
    RuleClass,
    RuleContext,
    step_article,
    working_days,
)
from workflow.rulesets import DEFAULT_RULEBOOK, Effective, RuleBook
from workflow.steps import STEPS, Recorder, parse_date, validate_data

CORRECTION = "step_corrected"


def _said(detail: Any) -> str:
    """A rule's finding as a violation keeps it: a Message (so that a page says it in its own
    language), not the `Late` that carried its due date, or else its text."""
    if isinstance(detail, Message):
        return detail if type(detail) is Message else Message(detail.template, **detail.params)
    return str(detail)


def _invalid(rule: str, seq: int | None, detail: str = "",
             fields: Mapping[str, str] | None = None) -> Invalid:
    # a Message, so that a page says the rule and the detail in its language
    said = _RULE_SAID[rule]
    message = Message("%(rule)s：%(detail)s", rule=said, detail=detail) if detail else said
    return Invalid(rule, seq, message, dict(fields or {}))


# each rule's words as a message: the catalogue has them (scripts/label_messages.py)
_RULE_SAID = {rule_id: Message(rule.zh) for rule_id, rule in REGISTRY.items()}


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


class _Plan:
    """What replay does with one step id, looked up once per record instead of once per rule:
    the refusal checks, the violation rules that have a check (enabled per rule book in
    `_enabled`), how the step changes the facts, and whether it needs the vote or calendar."""

    __slots__ = ("apply", "notice", "refusals", "repeatable", "rules", "vote")

    def __init__(self, step_id: str) -> None:
        rules = STEP_RULES.get(step_id, ())
        self.repeatable = STEPS[step_id].repeatable
        self.refusals = tuple(r for r in rules if r.cls is RuleClass.INVALID and r.check)
        self.rules = tuple(r for r in rules if r.cls is RuleClass.VIOLATION and r.check)
        self.apply = facts_handler(step_id)
        self.vote = step_id in ("admission_voted", "conversion_voted")
        self.notice = step_id in ("public_notice_held", "conversion_notice_held")


_PLANS = {step_id: _Plan(step_id) for step_id in STEPS if step_id != CORRECTION}
_NO_SETTINGS = RuleContext({})  # refusal checks read the facts and the record, not settings

# id(Effective) -> (the Effective, step -> its enabled violation rules); the Effective is kept
# so that its id is not reused. Books share their Effectives (rulesets._MEMOS), so this stays
# small; it is emptied if books that keep their own memo ever fill it.
_ENABLED: dict[int, tuple[Effective, dict[str, tuple[Rule, ...]]]] = {}


def _enabled(eff: Effective) -> dict[str, tuple[Rule, ...]]:
    """Each step's violation rules that this rule set and its settings enable."""
    found = _ENABLED.get(id(eff))
    if found is None or found[0] is not eff:
        if len(_ENABLED) >= 1024:
            _ENABLED.clear()
        table = {step_id: tuple(r for r in plan.rules if eff.enabled(r.id))
                 for step_id, plan in _PLANS.items() if plan.rules}
        found = _ENABLED[id(eff)] = (eff, table)
    return found[1]


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
        self._context: tuple[Effective | None, RuleContext, dict[str, tuple[Rule, ...]]] = (
            None, _NO_SETTINGS, {})

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
        step = rec.step
        plan = _PLANS.get(step)
        # the refusal checks only where one could refuse: most records of a stored history
        # (not validated again) have a plan, no refusal rule and are not repeated
        if (plan is None or plan.refusals or self.validate
                or (not plan.repeatable and step in self.done)):
            problem = self._refusal(rec, plan)
            if problem:
                self.invalid.append(problem)
                return
        assert plan is not None  # an unknown step was refused
        new_state = _UNCONDITIONAL.get(self.state, _NOWHERE).get(step)
        if new_state is None:
            new_state = _advance(self.state, step, rec.data)
            if new_state is None:
                self.invalid.append(_invalid("step_not_allowed", rec.seq,
                                             self._out_of_order(rec)))
                return
        if plan.rules:
            self._check_rules(rec, plan)
        if plan.notice:
            self._warn_calendar(rec)
        if plan.apply is not None:
            plan.apply(self.facts, rec, plan.vote and _vote_passed(rec.data))
        self.facts.last_step_on = rec.occurred_on
        self.state = new_state
        self.done.add(step)

    def _out_of_order(self, rec: StepRecord) -> str:
        """Where the case stands and, when one exists, the step to record first, with its
        article: what a secretary needs to fix the order, not only that it is wrong."""
        text = Message("%(day)s 案件处于「%(state)s」，不能记录「%(step)s」", day=rec.occurred_on,
                       state=state_label(self.state), step=STEPS[rec.step].zh)
        first = machine.missing_step(self.state, rec.step)
        if first is None:
            return text
        article = step_article(first)
        if not article:
            return Message("%(text)s：应先记录「%(first)s」", text=text, first=STEPS[first].zh)
        return Message("%(text)s：应先记录「%(first)s」（%(article)s）", text=text,
                       first=STEPS[first].zh, article=Article(article))

    def _refusal(self, rec: StepRecord, plan: _Plan | None) -> Invalid | None:
        if plan is None:
            return _invalid("step_not_allowed", rec.seq, f"未知步骤 {rec.step}")
        if self.validate:
            errors = validate_data(rec.step, rec.data, self.roster)
            if errors:
                return _invalid("data_invalid", rec.seq, "", errors)
        if not plan.repeatable and rec.step in self.done:
            return _invalid("step_already_recorded", rec.seq, STEPS[rec.step].zh)
        for rule in plan.refusals:
            detail = rule.check(_NO_SETTINGS, self.facts, rec)  # type: ignore[misc]
            if detail:
                return _invalid(rule.id, rec.seq, detail)
        return None

    def _check_rules(self, rec: StepRecord, plan: _Plan) -> None:
        eff = self.book.on(rec.occurred_on)
        held, ctx, table = self._context
        if held is not eff:  # one context and rule table per rule set in force, not per step
            ctx, table = RuleContext(eff.settings, self.calendar, self.roster), _enabled(eff)
            self._context = (eff, ctx, table)
        rules = table[rec.step]
        if not rules:
            return
        for rule in rules:
            detail = rule.check(ctx, self.facts, rec)  # type: ignore[misc]
            if detail:
                responsible = rule.responsible or _recorder(rec)
                self.violations.append(Violation(
                    rule.id, responsible, rec.seq, rec.occurred_on, _said(detail),
                    due_on=getattr(detail, "due_on", None), org=self.facts.org))

    def _warn_calendar(self, rec: StepRecord) -> None:
        start, end = day_in(rec.data.get("start_on")), day_in(rec.data.get("end_on"))
        if start and end and working_days(self.calendar, start, end).unverified:
            self.warnings.append(Message(
                "公示 %(start)s 至 %(end)s 涉及官方日历尚未公布的年份，工作日按周一至周五推算，"
                "请管理员录入该年节假日安排后核实", start=start, end=end))


_vote_passed = machine.CONDITIONS["vote_passed"]
_TRANSITIONS = machine.compiled()
_NOWHERE: dict[str, Any] = {}
# state -> step -> the state it leads to, where the first arc has no condition (the data cannot
# change the answer): one lookup instead of `_advance`, for most records
_UNCONDITIONAL = {state: {step_id: state if arcs[0][1] is None else arcs[0][1]
                          for step_id, arcs in steps.items() if arcs and not arcs[0][0]}
                  for state, steps in _TRANSITIONS.items()}


def _advance(state: str, step_id: str, data: Mapping[str, Any]) -> str | None:
    """`machine.step` without its exception: the state a step leads to, None if not allowed."""
    for conditions, dest in _TRANSITIONS.get(state, _NOWHERE).get(step_id, ()):
        for condition in conditions:
            if not condition(data):
                break
        else:
            return state if dest is None else dest
    return None


class _Reference(_Replayer):
    """The plain reading of the same rules, kept as the reference the compiled path must
    agree with (tests/unit/test_replay_properties.py): every rule of the registry asked per
    record whether it is enabled, the `transitions` machine fired, the facts applied by their
    method, a context and a working-day count made afresh each time."""

    def feed(self, rec: StepRecord) -> None:
        problem = self._reference_refusal(rec)
        if problem:
            self.invalid.append(problem)
            return
        try:
            new_state = machine.fire(self.state, rec.step, rec.data)
        except machine.StepNotAllowed:
            self.invalid.append(_invalid("step_not_allowed", rec.seq, self._out_of_order(rec)))
            return
        eff = self.book.on(rec.occurred_on)
        ctx = RuleContext(eff.settings, self.calendar, self.roster)
        for rule in STEP_RULES.get(rec.step, ()):
            if rule.cls is RuleClass.VIOLATION and rule.check and eff.enabled(rule.id):
                detail = rule.check(ctx, self.facts, rec)
                if detail:
                    self.violations.append(Violation(
                        rule.id, rule.responsible or _recorder(rec), rec.seq, rec.occurred_on,
                        _said(detail), due_on=getattr(detail, "due_on", None),
                        org=self.facts.org))
        if rec.step in ("public_notice_held", "conversion_notice_held"):
            start, end = parse_date(rec.data.get("start_on")), parse_date(rec.data.get("end_on"))
            if start and end and self.calendar.working_days(start, end).unverified:
                self.warnings.append(Message(
                    "公示 %(start)s 至 %(end)s 涉及官方日历尚未公布的年份，工作日按周一至周五推算，"
                    "请管理员录入该年节假日安排后核实", start=start, end=end))
        passed = rec.step in ("admission_voted", "conversion_voted") and _vote_passed(rec.data)
        self.facts.apply(rec, passed=passed)
        self.state = new_state
        self.done.add(rec.step)

    def _reference_refusal(self, rec: StepRecord) -> Invalid | None:
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
              today: date, facts: Facts,
              years: Collection[int] | None = None) -> list[Paperwork]:
    """What each record lacks on `today`; with `years`, only records of those years."""
    made = Paperwork.of
    return [made(seq, step, on, lacking, responsible, org)
            for seq, step, on, lacking, responsible, org
            in lacking_documents(records, documents, today, facts, years)]


Lacking = tuple[int, str, date, tuple[str, ...], Responsible, str]


def lacking_documents(records: Sequence[StepRecord], documents: Iterable[DocumentRef],
                      today: date, facts: Facts,
                      years: Collection[int] | None = None) -> Iterator[Lacking]:
    """Each record that lacks documents on `today`, as (seq, step, day, the documents it lacks,
    who answers, the branch that held the case): what `paperwork` makes `Paperwork` of and the
    kept findings (`findings.kept`) keep as they are (orjson writes the tuples as lists)."""
    have: dict[int, set[str]] = {}
    for doc in documents:
        if doc.attached_on <= today:
            have.setdefault(doc.step_seq, set()).add(doc.doc_type)
    # one branch held the case throughout (no transfer): its code, without a search per record
    org = facts.org_on(date.min) if len(facts.orgs) <= 1 else None
    wanted_by, fixed = _WANTED, _FIXED_RECORDER
    for rec in records:
        wanted = wanted_by.get(rec.step)
        if not wanted or years is not None and rec.occurred_on.year not in years:
            continue
        got = have.get(rec.seq)
        lacking = wanted if got is None else tuple(d for d in wanted if d not in got)
        if lacking:
            yield (rec.seq, rec.step, rec.occurred_on, lacking,
                   fixed.get(rec.step) or _recorder(rec),
                   org if org is not None else facts.org_on(rec.occurred_on))


_SPECIAL_EARLIEST = frozenset({"candidate_designated", "admission_voted", "conversion_voted"})


def _earliest(step_id: str, f: Facts, book: RuleBook, calendar: WorkingCalendar) -> date:
    base = f.last_step_on or date.min
    if step_id not in _SPECIAL_EARLIEST:
        return base
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
    for step_id, repeatable in _candidates(state):
        if repeatable or step_id not in done:
            result.append(NextStep(step_id, _earliest(step_id, f, book, calendar)))
    return result


@cache
def _candidates(state: str) -> tuple[tuple[str, bool], ...]:
    """The steps the machine accepts in a state, corrections left out, each with whether it
    may be recorded again."""
    return tuple((step_id, STEPS[step_id].repeatable) for step_id in machine.allowed_steps(state)
                 if step_id != CORRECTION)


Folded = _Replayer  # a history fed up to a day, before the day's deadlines are derived
_ORDER = attrgetter("occurred_on", "seq")  # the order records are replayed in


def fold(records: Iterable[StepRecord], today: date, *,
         roster: Mapping[int, RosterMember] | None = None,
         rulebook: RuleBook = DEFAULT_RULEBOOK,
         calendar: WorkingCalendar = DEFAULT_CALENDAR,
         validate: bool = True, org: str = "",
         applicant_member: int | None = None, reference: bool = False) -> Folded:
    """Feed a case's effective records as they stood on `today`: the costly half of a replay.
    `reference`: by the plain reading of the rules and the `transitions` machine (`_Reference`,
    for tests), not the compiled path; the result is the same."""
    records = list(records)
    invalid: list[Invalid] = []
    seqs = {rec.seq for rec in records}
    if (reference or len(seqs) < len(records)
            or any(rec.step == CORRECTION for rec in records)):
        records_now = apply_corrections(records, invalid)
    else:  # nothing to fold in (most histories): what apply_corrections would return
        records_now = records
    effective = sorted([rec for rec in records_now if rec.occurred_on <= today], key=_ORDER)
    r = (_Reference if reference else _Replayer)(rulebook, calendar, roster, validate, org,
                                                 applicant_member)
    r.invalid, r.today, r.effective = invalid, today, effective
    r.last_seq = max(seqs, default=0)
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


def obligations_of(folded: Folded) -> list[dl.Obligation]:
    """The fold's obligations on its day: what the deadline rows (`deadlines.shown`) and the
    kept findings (`findings.kept`) both derive from, computed once by a caller that wants
    both (a rebuild)."""
    return dl.obligations(folded.facts, folded.book, folded.today)


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
