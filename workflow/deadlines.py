"""Deadlines derived from a case's facts: what is due when, whether it was met, what was missed.

An obligation that passed its due date unmet, while it was still required, is a violation of
its rule (reality cannot be refused, only recorded); one met late is flagged on the step that
met it by the step rules instead, so a miss is never counted twice.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, timedelta
from operator import attrgetter
from typing import NamedTuple

from workflow.calendar import add_months, add_years
from workflow.facts import Facts
from workflow.history import Deadline, DeadlineStatus, Responsible, Violation
from workflow.rules import RuleContext, conversion_vote_due
from workflow.rulesets import RuleBook

DUE_SOON_DAYS = 30
_ONE_DAY = timedelta(1)
B, C = Responsible.BRANCH, Responsible.COMMITTEE

# What each deadline asks for, named by the obligation (several deadlines cite one rule: the
# request, the earliest vote and the last day to vote all protect timely conversion).
LABELS: dict[str, tuple[str, str]] = {
    "interview_due": ("应派人谈话", "Interview the applicant"),
    "activist_assessment_due": ("积极分子培养考察（每半年）", "Assess the activist (half-yearly)"),
    "earliest_candidacy": ("培养满一年（最早可列为发展对象）",
                           "One year as activist (earliest candidacy)"),
    "earliest_vote": ("公示期满（最早可提交支部大会表决）",
                      "Notice over (earliest admission vote)"),
    "approval_due": ("接收预备党员审批截止", "Committee approval of admission due"),
    "oath_due": ("入党宣誓截止", "Oath due"),
    "probation_assessment_due": ("预备党员考察（每季度）",
                                 "Assess the probationary member (quarterly)"),
    "probation_expiry": ("预备期满（最早可讨论转正）",
                         "Probation ends (earliest conversion vote)"),
    "conversion_request_expected": ("应提出转正申请", "Conversion application expected"),
    "conversion_vote_due": ("转正讨论截止", "Conversion vote due"),
    "conversion_approval_due": ("转正审批截止", "Committee approval of conversion due"),
}


def label(kind: str, lang: str = "zh") -> str:
    zh, en = LABELS.get(kind, (kind, kind))
    return en if lang == "en" else zh


class Obligation(NamedTuple):
    """What a case owes by a date. A named tuple, not a frozen dataclass: a bulk replay makes
    several per case (one per assessment window), and a tuple is made several times faster."""

    rule: str
    kind: str
    due_on: date
    responsible: Responsible
    met_on: date | None
    until: date | None = None  # the obligation stopped being required on this date
    earliest: bool = False  # "not before" dates: never missed, only reached
    counts: bool = True  # a reminder that is not itself a rule's deadline

    def missed(self, today: date) -> bool:
        if self.earliest or not self.counts or self.met_on is not None:
            return False
        return self.due_on < today and (self.until is None or self.due_on < self.until)

    def status(self, today: date) -> DeadlineStatus:
        if self.met_on is not None or (self.earliest and today >= self.due_on):
            return DeadlineStatus.MET
        if self.earliest:
            return DeadlineStatus.UPCOMING
        if today > self.due_on:
            return DeadlineStatus.OVERDUE
        if (self.due_on - today).days <= DUE_SOON_DAYS:
            return DeadlineStatus.DUE
        return DeadlineStatus.UPCOMING


def _first(*days: date | None) -> date | None:
    present = [d for d in days if d is not None]
    return min(present) if present else None


def _windows(rule: str, kind: str, start: date, months: int, dates: list[date],
             stop: date | None, today: date) -> Iterator[Obligation]:
    """Every full window of `months` from `start` that ended before `stop`, plus the current one."""
    k, lo = 1, start
    while True:
        following = add_months(start, months * k)  # the next window's first day
        hi = following - _ONE_DAY
        if stop is not None and hi >= stop:
            return
        met = None
        for d in dates:
            if lo <= d <= hi:
                met = d
                break
        yield Obligation(rule, kind, hi, B, met)
        if hi >= today:
            return
        k, lo = k + 1, following


def _applicant(f: Facts, book: RuleBook) -> Iterator[Obligation]:
    if f.applied_on and book.on(f.applied_on).enabled("interview_within_one_month"):
        yield Obligation("interview_within_one_month", "interview_due",
                         add_months(f.applied_on, 1), B, f.interviewed_on,
                         until=_first(f.activist_on, f.closed_on))


def _activist(f: Facts, book: RuleBook, today: date) -> Iterator[Obligation]:
    if f.activist_on is None:
        return
    eff = book.on(f.activist_on)
    stop = _first(f.candidate_on, f.closed_on)
    if eff.enabled("activist_assessed_half_yearly"):
        yield from _windows("activist_assessed_half_yearly", "activist_assessment_due",
                            f.activist_on, int(eff.settings["activist_assessment_months"]),
                            f.activist_assessments, stop, today)
    if f.closed_on is None:
        yield Obligation("activist_one_year", "earliest_candidacy", add_years(f.activist_on, 1),
                         B, f.candidate_on, earliest=True)


def _candidate(f: Facts, book: RuleBook) -> Iterator[Obligation]:
    if f.notice and f.admission_vote_on is None and f.candidate_on and f.closed_on is None:
        yield Obligation("vote_after_notice", "earliest_vote", f.notice.end_on + timedelta(1), B,
                         None, earliest=True)
    if f.admission_vote_on:
        yield Obligation("approval_within_three_months", "approval_due",
                         add_months(f.admission_vote_on, 3), C, f.approved_on, until=f.closed_on)


def _probationary(f: Facts, book: RuleBook, today: date) -> Iterator[Obligation]:
    if f.approved_on is None or f.admission_vote_on is None:
        return
    eff = book.on(f.approved_on)
    ended = _first(f.probation_ended_on, f.closed_on)
    yield Obligation("oath_within_window", "oath_due",
                     add_months(f.approved_on, int(eff.settings["oath_window_months"])), B,
                     f.oath_on, until=f.closed_on)
    if eff.enabled("probation_assessed_quarterly"):
        yield from _windows("probation_assessed_quarterly", "probation_assessment_due",
                            f.approved_on, int(eff.settings["probation_assessment_months"]),
                            f.probation_assessments, ended, today)
    yield from _conversion(f, book)


def _conversion(f: Facts, book: RuleBook) -> Iterator[Obligation]:
    expiry = f.probation_expiry
    assert expiry
    ctx = RuleContext(book.on(expiry).settings)
    voted = f.conversion_vote_on
    yield Obligation("conversion_vote_not_early", "probation_expiry", expiry, B, voted,
                     earliest=True)
    yield Obligation("conversion_vote_on_time", "conversion_request_expected",
                     add_months(expiry, -1), B, f.conversion_requested_on or voted,
                     until=f.closed_on, counts=False)
    yield Obligation("conversion_vote_on_time", "conversion_vote_due",
                     conversion_vote_due(ctx, f), B, voted, until=f.closed_on)
    if voted:
        yield Obligation("conversion_approval_within_three_months", "conversion_approval_due",
                         add_months(voted, 3), C, f.conversion_resolution_on, until=f.closed_on)


def obligations(f: Facts, book: RuleBook, today: date) -> list[Obligation]:
    return [*_applicant(f, book), *_activist(f, book, today), *_candidate(f, book),
            *_probationary(f, book, today)]


def deadlines(obs: list[Obligation], f: Facts, today: date) -> list[Deadline]:
    """The case's deadlines as shown to people: met windows of the past are left out."""
    return [Deadline(ob.rule, ob.kind, ob.due_on, ob.responsible, ob.status(today), f.org,
                     ob.met_on) for ob in shown(obs, f, today)]


def shown(obs: list[Obligation], f: Facts, today: date) -> list[Obligation]:
    """The obligations a case's deadlines show, in their order (`deadlines`); the deadline rows
    are written from these, without the `Deadline`s a page shows."""
    if f.closed_on is not None:
        return []
    kept = []
    for ob in obs:
        if ob.until is not None and ob.met_on is None:
            continue  # stopped being required (stage over): not open; a miss is its violation
        if ob.kind.endswith("assessment_due") and (
                ob.status(today) is DeadlineStatus.MET or ob.missed(today)):
            continue  # a past window can no longer be met: a miss is its violation, not a task
        kept.append(ob)
    kept.sort(key=_SHOWN_ORDER)
    return kept


_SHOWN_ORDER = attrgetter("due_on", "kind")


def missed(obs: list[Obligation], f: Facts, today: date,
           years: Collection[int] | None = None) -> list[Violation]:
    """The obligations missed by `today`, as violations; with `years`, only those due in
    them (the rubric counts a miss in the year it fell due), none made only to be dropped."""
    made = Violation.missed
    return [made(ob.rule, ob.responsible, ob.due_on, f.org_on(ob.due_on))
            for ob in obs if ob.met_on is None and ob.missed(today)
            and (years is None or ob.due_on.year in years)]
