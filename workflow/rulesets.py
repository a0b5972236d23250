"""Rule sets versioned by effective date, and per-organisation settings on top of them.

A step is judged by the rule set in force on its date. A later national revision is added as a
new RuleSet with its own effective date; an old one is never edited, so old cases keep being
judged the way they were.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from workflow.rules import VIOLATIONS

DEFAULT_SETTINGS: Mapping[str, Any] = MappingProxyType({
    "notice_working_days": 5,
    "notice_before_admission": True,
    "notice_before_conversion": True,
    "conversion_grace_months": 1,
    "transfer_grace_months": 6,
    "oath_window_months": 3,
    "probation_assessment_months": 3,
    "activist_assessment_months": 6,
    "yearly_plan_required": True,
})

SETTING_LABELS: Mapping[str, str] = MappingProxyType({
    "notice_working_days": "公示工作日数",
    "notice_before_admission": "接收预备党员前公示",
    "notice_before_conversion": "转正前公示",
    "conversion_grace_months": "转正讨论宽限（月）",
    "transfer_grace_months": "预备期转接后宽限（月）",
    "oath_window_months": "入党宣誓期限（月）",
    "probation_assessment_months": "预备期考察间隔（月，0 为不要求）",
    "activist_assessment_months": "积极分子考察间隔（月）",
    "yearly_plan_required": "要求年度发展计划（有计划地发展）",
})


@dataclass(frozen=True)
class RuleSet:
    id: str
    name: str
    effective_from: date
    rules: frozenset[str]
    settings: Mapping[str, Any]


ALL_RULES = frozenset(r.id for r in VIOLATIONS)
_NOT_IN_1990 = frozenset({
    "interview_within_one_month", "activist_filed_before_candidacy",
    "candidate_filed_before_review", "political_review_before_prereview",
    "candidate_training_hours", "prereview_before_form", "notice_after_prereview",
    "notice_working_days", "vote_after_notice", "secret_ballot", "admission_within_plan",
})

NATIONAL_1990 = RuleSet(
    "national-1990", "1990 年《中国共产党发展党员工作细则（试行）》", date(1990, 6, 25),
    ALL_RULES - _NOT_IN_1990,
    MappingProxyType({**DEFAULT_SETTINGS, "notice_before_admission": False,
                      "notice_before_conversion": False}))
NATIONAL_2014 = RuleSet(
    "national-2014", "2014 年《中国共产党发展党员工作细则》", date(2014, 5, 28),
    ALL_RULES, DEFAULT_SETTINGS)

RULE_SETS: tuple[RuleSet, ...] = (NATIONAL_1990, NATIONAL_2014)


@dataclass(frozen=True)
class Override:
    """An organisation's local setting from a date on (e.g. a 7-working-day notice)."""

    effective_from: date
    key: str
    value: Any


@dataclass(frozen=True)
class Effective:
    rule_set: RuleSet
    settings: Mapping[str, Any]

    def enabled(self, rule_id: str) -> bool:
        if rule_id == "probation_assessed_quarterly":
            return rule_id in self.rule_set.rules and int(
                self.settings["probation_assessment_months"]) > 0
        if rule_id == "admission_within_plan":
            return rule_id in self.rule_set.rules and bool(self.settings["yearly_plan_required"])
        return rule_id in self.rule_set.rules


@dataclass(frozen=True)
class RuleBook:
    """The rule sets and one organisation's overrides: answers 'what applied on this date'."""

    rule_sets: tuple[RuleSet, ...] = RULE_SETS
    overrides: tuple[Override, ...] = field(default_factory=tuple)
    # answers by day: replay asks once per step, and the answer never changes for a book
    _on: dict[Any, Effective] = field(default_factory=dict, init=False, repr=False,
                                       compare=False, hash=False)

    def __post_init__(self) -> None:
        unknown = {o.key for o in self.overrides} - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown rule settings: {sorted(unknown)}")
        # equal books (most branches have no overrides) share one memo; sorted once, not per day
        try:  # rule sets are module constants: their identity names them
            memo = _MEMOS.setdefault((tuple(map(id, self.rule_sets)), self.overrides), {})
        except TypeError:  # an unhashable override value: this book keeps its own memo
            memo = {}
        object.__setattr__(self, "_on", memo)
        sets = sorted(self.rule_sets, key=lambda rs: rs.effective_from)
        overrides = sorted(self.overrides, key=lambda o: o.effective_from)
        object.__setattr__(self, "_sorted", (sets, [rs.effective_from for rs in sets], overrides,
                                             [o.effective_from for o in overrides]))

    def on(self, day: date) -> Effective:
        found = self._on.get(day)
        if found is None:
            found = self._on[day] = self._compute(day)
        return found

    def _compute(self, day: date) -> Effective:
        # which rule set (the latest in force, else the earliest) and how many overrides apply:
        # the answer depends only on that pair, so books share it across days
        sets, starts, overrides, override_starts = self._sorted  # type: ignore[attr-defined]
        rule_set = sets[max(bisect_right(starts, day) - 1, 0)]
        k = bisect_right(override_starts, day)
        key = (rule_set.effective_from, k)
        found = self._on.get(key)  # type: ignore[call-overload]
        if found is None:
            settings = dict(rule_set.settings)
            for o in overrides[:k]:
                settings[o.key] = o.value
            found = self._on[key] = Effective(rule_set, MappingProxyType(settings))  # type: ignore[index]
        return found


_MEMOS: dict[Any, dict[Any, Effective]] = {}


def rulebook(overrides: Iterable[Override] = ()) -> RuleBook:
    return RuleBook(RULE_SETS, tuple(overrides))


DEFAULT_RULEBOOK = RuleBook()
