"""Vote arithmetic for the 票决制: whether a recorded vote is coherent, quorate and passed.

The result of a branch vote is computed from its counts, never typed in, and the system shows
why a vote failed. Counts are compared with integer arithmetic ("more than half" of ``eligible``
is ``2 * x > eligible``) so that odd sizes are never rounded the wrong way.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from workflow.messages import Message


class VoteMethod(StrEnum):
    SECRET_BALLOT = "secret_ballot"
    SHOW_OF_HANDS = "show_of_hands"


COUNT_FIELDS: tuple[str, ...] = ("eligible", "present", "written", "yes", "no", "abstain")
COUNT_MAX = 2**31 - 1  # a count's bound, the API description's; steps.MAX_INT for ids too
FIELD_LABELS: dict[str, str] = {
    "eligible": "应到人数", "present": "实到人数", "written": "书面意见人数",
    "yes": "赞成票", "no": "反对票", "abstain": "弃权票", "method": "表决方式",
}


class VoteInvalid(ValueError):
    """A vote record that cannot be counted; ``fields`` maps each bad field to a reason."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields: dict[str, str] = dict(fields)
        super().__init__("；".join(f"{k}: {v}" for k, v in self.fields.items()))


@dataclass(frozen=True)
class Vote:
    eligible: int
    present: int
    written: int
    yes: int
    no: int
    abstain: int
    method: VoteMethod

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Vote:
        """Build a vote from stored/submitted data; VoteInvalid lists every bad field."""
        errors: dict[str, str] = {}
        for name in COUNT_FIELDS:
            problem = _count_problem(data, name)
            if problem:
                errors[name] = problem
        method = _method(data, errors)
        if errors or method is None:
            raise VoteInvalid(errors)
        c = {name: _as_int(data[name]) for name in COUNT_FIELDS}
        return cls(c["eligible"], c["present"], c["written"], c["yes"], c["no"], c["abstain"],
                   method)


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected int, got {type(value).__name__}")
    return value


def _count_problem(data: Mapping[str, object], name: str) -> str | None:
    label = FIELD_LABELS[name]
    if name not in data:
        return f"缺少{label}"
    return _count_range(label, data[name])


def _count_range(label: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{label}必须是整数"
    if value < 0:
        return f"{label}不能为负数"
    return f"{label}不能超过 {COUNT_MAX}" if value > COUNT_MAX else None


_METHODS = frozenset(m.value for m in VoteMethod)


def _method(data: Mapping[str, object], errors: dict[str, str]) -> VoteMethod | None:
    if "method" not in data:
        errors["method"] = "缺少表决方式"
        return None
    value = data["method"]
    if isinstance(value, str) and value in _METHODS:
        return VoteMethod(value)
    allowed = "、".join(m.value for m in VoteMethod)
    errors["method"] = f"表决方式必须是 {allowed} 之一"
    return None


@dataclass(frozen=True)
class VoteResult:
    quorum: bool
    passed: bool
    reasons: tuple[str, ...] = ()


def validate(v: Vote) -> dict[str, str]:
    """Field -> reason for every incoherent count; empty when the vote can be counted."""
    errors: dict[str, str] = {}
    for name in COUNT_FIELDS:
        problem = _count_range(FIELD_LABELS[name], getattr(v, name))
        if problem:
            errors[name] = problem
    if errors:
        return errors
    if v.eligible < 1:
        errors["eligible"] = "应到人数至少为 1"
    if v.present > v.eligible:
        errors["present"] = f"实到人数 {v.present} 超过应到人数 {v.eligible}"
    if v.written > v.eligible - v.present:
        errors["written"] = (f"书面意见人数 {v.written} 超过缺席人数 "
                             f"{max(v.eligible - v.present, 0)}")
    cast = v.yes + v.no + v.abstain
    if cast > v.present + v.written:
        errors["yes"] = (f"赞成、反对、弃权票合计 {cast} 超过实到人数与书面意见人数之和 "
                         f"{v.present + v.written}")
    return errors


def tally(v: Vote) -> VoteResult:
    """Quorum: more than half of ``eligible`` present. Passed: quorum and more than half of
    ``eligible`` voting yes (written opinions count). Refuses an incoherent vote."""
    errors = validate(v)
    if errors:
        raise VoteInvalid(errors)
    quorum = 2 * v.present > v.eligible
    majority = 2 * v.yes > v.eligible
    reasons: list[str] = []
    if not quorum:
        reasons.append(Message("出席人数 %(present)s 未超过应到人数 %(eligible)s 的半数",
                               present=v.present, eligible=v.eligible))
    if not majority:
        reasons.append(Message("赞成票 %(yes)s 未超过应到人数 %(eligible)s 的半数",
                               yes=v.yes, eligible=v.eligible))
    return VoteResult(quorum=quorum, passed=quorum and majority, reasons=tuple(reasons))
