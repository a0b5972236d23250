"""Yearly development plans (年度发展计划): the "有计划" of art. 5 and of rubric item 13.

A committee gives each branch a quota of new probationary members for a year, with optional
structure targets; an adjustment during the year is a new version from its day on, never an
edit. An admission vote is judged against the version in force on the vote's day: one that
passes when the branch's passed admission votes of that year already reach the quota is over
plan (`admission_within_plan`, branch). A year in which a branch holds an admission vote
without any plan costs item 13 two points once (`no_plan`). Both only where the rule set in
force on the vote's day asks for plans (the 2014 set; not the 1990 one).

Plain data in, findings out: the services read the plans and the passed votes from the
database and hand them here, so the same code judges a recorded history, a proposed vote and
the year-end report.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from workflow import machine
from workflow.calendar import DEFAULT_CALENDAR, WorkingCalendar, add_years
from workflow.history import Replay, Responsible, Violation
from workflow.rubric import PROCEDURE_POINTS, Deduction
from workflow.steps import OCCUPATIONS
from workflow.messages import Message

RULE = "admission_within_plan"
NO_PLAN_POINTS = PROCEDURE_POINTS
_DAY = timedelta(days=1)
QUOTA_MAX = 999  # more new members than any branch admits in a year: a typing error

# Structure targets, as counts of the year's new probationary members.
TARGETS: dict[str, tuple[str, str]] = {
    "women": ("女性", "Women"),
    "under_35": ("35 岁及以下", "Aged 35 or under"),
    "front_line": ("生产、工作一线", "Front-line workers"),
    "college": ("大专及以上学历", "College-educated"),
}

# the occupations (workflow/steps.OCCUPATIONS) that count as front line (生产、工作一线)
FRONT_LINE = frozenset({"worker", "farmer", "professional"})

# 学历 is free text on the application; these words mark 大专 and above.
_COLLEGE_WORDS = ("大专", "专科", "高职", "本科", "大学", "学士", "研究生", "硕士", "博士",
                  "college", "bachelor", "master", "doctor", "phd")

AGE_BANDS: tuple[tuple[int, str, str], ...] = (
    (25, "25 岁及以下", "25 or under"), (30, "26–30 岁", "26–30"), (35, "31–35 岁", "31–35"),
    (40, "36–40 岁", "36–40"), (45, "41–45 岁", "41–45"), (50, "46–50 岁", "46–50"),
    (200, "51 岁及以上", "51 or over"),
)


@dataclass(frozen=True)
class PlanVersion:
    version: int
    quota: int
    targets: Mapping[str, int]
    effective_on: date
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """A branch's plan for a year, every version kept (version 1 first)."""

    org: str
    year: int
    versions: tuple[PlanVersion, ...]

    def __post_init__(self) -> None:
        assert self.versions, "a plan has at least its first version"

    @property
    def current(self) -> PlanVersion:
        return self.versions[-1]

    def in_force(self, day: date) -> PlanVersion:
        """The version a vote on `day` is judged by. The first version covers the whole year
        (a plan issued in March plans January too); an adjustment applies from its day on."""
        found = self.versions[0]
        for v in self.versions[1:]:
            if v.effective_on <= day:
                found = v
        return found


@dataclass(frozen=True)
class Admission:
    """A passed admission vote, held by `org` (the branch that held the case on its day)."""

    case_id: int
    step_seq: int
    on: date
    org: str


def admissions_of(case_id: int, r: Replay) -> list[Admission]:
    """A replayed case's passed admission votes (corrections folded in), each with the branch
    that held the case that day."""
    return [Admission(case_id, rec.seq, rec.occurred_on, r.org_on(rec.occurred_on))
            for rec in r.effective
            if rec.step == "admission_voted" and machine.CONDITIONS["vote_passed"](rec.data)]


def _year_votes(org: str, year: int, admissions: Iterable[Admission]) -> list[Admission]:
    # one meeting votes several candidates one by one: the recording order breaks the tie
    return sorted((a for a in admissions if a.org == org and a.on.year == year),
                  key=lambda a: (a.on, a.step_seq))


def over_plan(plan: Plan | None, admissions: Iterable[Admission],
              required: Callable[[date], bool] = lambda day: True) -> list[Violation]:
    """The admission votes of the plan's branch and year that passed with the quota in force
    that day already reached. No plan, no over-plan finding (that year costs `no_plan`)."""
    if plan is None:
        return []
    found = []
    for earlier, a in enumerate(_year_votes(plan.org, plan.year, admissions)):
        quota = plan.in_force(a.on).quota
        if earlier >= quota and required(a.on):
            found.append(Violation(RULE, Responsible.BRANCH, a.step_seq, a.on,
                                   Message("%(year)s 年计划发展 %(quota)s 名，此前已有 %(n)s 名"
                                           "通过支部大会表决", year=plan.year, quota=quota,
                                           n=earlier), org=plan.org))
    return found


def verdict(plan: Plan | None, admissions: Iterable[Admission], proposed: Admission,
            required: bool = True) -> Violation | None:
    """Would recording `proposed` (a passing admission vote) put the branch over its plan?"""
    if not required:
        return None
    for v in over_plan(plan, [*admissions, proposed]):
        if v.step_seq == proposed.step_seq:
            return v
    return None


def deductions(org: str, year: int, plan: Plan | None, admissions: Iterable[Admission],
               required: Callable[[date], bool],
               held: Iterable[Admission] | None = None) -> list[Deduction]:
    """Item 13's plan deductions for a branch and year: −2 per over-plan vote (`admissions`:
    the passed ones), −2 once for a year in which the branch held an admission vote (`held`,
    passed or not; default the passed ones) and had no plan, on the first such vote."""
    votes = _year_votes(org, year, admissions)
    if plan is None:
        first = next((a for a in _year_votes(org, year, votes if held is None else held)
                      if required(a.on)), None)
        if first is None:
            return []
        return [Deduction("no_plan", first.case_id, RULE, first.step_seq, NO_PLAN_POINTS,
                          f"{year} 年举行了接收预备党员表决，但没有年度发展计划（有计划和措施）",
                          first.on, "报请上级党委下达本年度发展党员计划，并制定落实措施",
                          f"An admission vote was held in {year} without a yearly development "
                          "plan (art. 5)",
                          "Ask the committee for this year's development plan and set out "
                          "the measures")]
    by_seq = {a.step_seq: a for a in votes}
    earlier = {a.step_seq: n for n, a in enumerate(votes)}  # as over_plan counts them
    return [Deduction("procedure", by_seq[v.step_seq].case_id, RULE, v.step_seq,
                      PROCEDURE_POINTS, f"超计划发展（art. 5）：{v.detail}", v.on,
                      "报请上级党委调整年度计划后再提交表决，或推迟到下一年度",
                      f"Over the plan (art. 5): the {year} plan allows "
                      f"{plan.in_force(v.on).quota}, {earlier[v.step_seq]} had already "
                      "passed the branch meeting's vote",
                      "Ask the committee to adjust the yearly plan before the vote, or "
                      "postpone it to next year")
            for v in over_plan(plan, votes, required)]


@dataclass(frozen=True)
class Prospect:
    """A case in the pipeline and the legal dates that bound its admission vote."""

    case_id: int
    stage: str  # activist | candidate
    earliest_candidacy: date | None = None  # activist: designation + 1 year
    earliest_vote: date | None = None  # candidate whose notice is set: the notice's end + 1


def earliest_vote(p: Prospect, today: date, notice_days: int,
                  calendar: WorkingCalendar = DEFAULT_CALENDAR) -> date:
    """The first day the case could legally hold its admission vote, counting only the waits
    the rules impose (a year as activist, a notice of `notice_days` working days starting the
    day after candidacy at the earliest); the committee's pre-review time is not guessed."""
    if p.stage == "candidate" and p.earliest_vote is not None:
        return max(p.earliest_vote, today)
    start = today
    if p.stage == "activist":
        start = max(today, p.earliest_candidacy or add_years(today, 1))
    if notice_days < 1:
        return start
    end, _ = calendar.add_working_days(start + _DAY, notice_days)
    return end + _DAY


@dataclass(frozen=True)
class Outlook:
    quota: int
    passed: int
    reachable: tuple[int, ...]  # case ids that can still reach a vote this year
    later: tuple[int, ...]  # in the pipeline, but not before 31 December

    @property
    def gap(self) -> int:
        return max(0, self.quota - self.passed)

    @property
    def cannot_fill(self) -> bool:
        return len(self.reachable) < self.gap


def outlook(plan: Plan, passed: int, pipeline: Sequence[Prospect], today: date,
            notice_days: int, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> Outlook:
    """Can the pipeline fill the rest of this year's quota? (the forward planner's warning)"""
    end = date(plan.year, 12, 31)
    reachable, later = [], []
    for p in pipeline:
        day = earliest_vote(p, today, notice_days, calendar)
        (reachable if day <= end else later).append(p.case_id)
    return Outlook(plan.in_force(min(today, end)).quota, passed, tuple(reachable), tuple(later))


@dataclass(frozen=True)
class Profile:
    """What the structure counts read of one new member."""

    gender: str | None = None
    birth_date: date | None = None
    education: str | None = None
    occupation: str | None = None
    ethnicity: str | None = None


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_college(education: str | None) -> bool:
    text = (education or "").lower()
    return any(word in text for word in _COLLEGE_WORDS)


def age_band(born: date | None, day: date) -> str:
    if born is None:
        return "unknown"
    age = age_on(born, day)
    return next(str(top) for top, _, _ in AGE_BANDS if age <= top)


def target_counts(people: Iterable[tuple[Profile, date]]) -> dict[str, int]:
    """The structure targets' actual counts; each person with the day they were admitted."""
    counts = dict.fromkeys(TARGETS, 0)
    for p, day in people:
        counts["women"] += p.gender == "female"
        counts["under_35"] += p.birth_date is not None and age_on(p.birth_date, day) <= 35
        counts["front_line"] += p.occupation in FRONT_LINE
        counts["college"] += is_college(p.education)
    return counts


@dataclass(frozen=True)
class Structure:
    """The party statistics' breakdown of a year's new members."""

    total: int
    gender: Mapping[str, int] = field(default_factory=dict)
    age: Mapping[str, int] = field(default_factory=dict)
    education: Mapping[str, int] = field(default_factory=dict)
    occupation: Mapping[str, int] = field(default_factory=dict)
    ethnicity: Mapping[str, int] = field(default_factory=dict)


def structure(people: Sequence[tuple[Profile, date]]) -> Structure:
    """Counts by sex, age band (on the day admitted), education (大专及以上 or not), occupation
    and ethnicity (汉族 or 少数民族); a missing answer is counted as `unknown`, never dropped."""
    def tally(key: Callable[[Profile, date], str]) -> dict[str, int]:
        return dict(Counter(key(p, day) for p, day in people))

    def ethnic(p: Profile, _: date) -> str:
        if not p.ethnicity:
            return "unknown"
        return "han" if p.ethnicity.strip() in ("汉", "汉族") else "minority"

    def schooling(p: Profile, _: date) -> str:
        return "unknown" if not p.education else ("college" if is_college(p.education)
                                                  else "below_college")
    return Structure(
        len(people),
        gender=tally(lambda p, _: p.gender or "unknown"),
        age=tally(lambda p, day: age_band(p.birth_date, day)),
        education=tally(schooling),
        occupation=tally(lambda p, _: p.occupation if p.occupation in OCCUPATIONS else "unknown"),
        ethnicity=tally(ethnic))


def check_targets(targets: Mapping[str, object], quota: int) -> dict[str, str]:
    """Field problems of a plan's structure targets (known names, whole counts 0..quota)."""
    problems: dict[str, str] = {}
    for name, value in targets.items():
        if name not in TARGETS:
            problems[f"targets.{name}"] = Message("未知的结构指标")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= quota:
            problems[f"targets.{name}"] = Message("必须是 0–%(n)d 的整数（不超过计划数）", n=quota)
    return problems


def check_quota(quota: object) -> str | None:
    if isinstance(quota, bool) or not isinstance(quota, int) or not 0 <= quota <= QUOTA_MAX:
        return Message("必须是 0–%(n)d 的整数", n=QUOTA_MAX)
    return None
