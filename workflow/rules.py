"""The rule registry: every rule with its id, messages, article, responsible party and check.

A rule is data: the API, the pages, the alerts and the rubric all cite the same entry. Step
rules are checked when a step is replayed, against the facts established before it; deadline
rules (see workflow.deadlines) turn passed due dates into violations.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from weakref import WeakKeyDictionary

from workflow import machine
from workflow.calendar import (
    DEFAULT_CALENDAR,
    WorkdayCount,
    WorkingCalendar,
    add_months,
    add_years,
)
from workflow.facts import Facts, Notice, day_in
from workflow.history import Responsible, RosterMember, StepRecord
from workflow.steps import STEPS
from workflow.messages import Message

# calendar -> (start, end) -> its count: replay counts a notice for its rule and again for its
# warning, and many cases share notice dates. A holiday change builds a new calendar (the old
# one and its counts are then dropped); a calendar is never changed in place.
_COUNTED: WeakKeyDictionary[WorkingCalendar, dict[tuple[date, date], WorkdayCount]] = (
    WeakKeyDictionary())


def working_days(calendar: WorkingCalendar, start: date, end: date) -> WorkdayCount:
    """`calendar.working_days(start, end)`, remembered per calendar."""
    counted = _COUNTED.get(calendar)
    if counted is None:
        counted = _COUNTED[calendar] = {}
    found = counted.get((start, end))
    if found is None:
        if len(counted) >= 1 << 16:
            counted.clear()
        found = counted[(start, end)] = calendar.working_days(start, end)
    return found


class RuleClass(StrEnum):
    INVALID = "invalid"
    VIOLATION = "violation"


@dataclass(frozen=True)
class RuleContext:
    settings: Mapping[str, Any]
    calendar: WorkingCalendar = DEFAULT_CALENDAR
    roster: Mapping[int, RosterMember] | None = None


Check = Callable[[RuleContext, Facts, StepRecord], str | None]


@dataclass(frozen=True)
class Rule:
    id: str
    zh: str
    en: str
    article: str
    responsible: Responsible | None  # None: whoever records the step
    cls: RuleClass = RuleClass.VIOLATION
    on: tuple[str, ...] = ()
    check: Check | None = None

    def message(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


B, C = Responsible.BRANCH, Responsible.COMMITTEE


class Late(Message):
    """A finding about a missed due date; carries the date so the rubric counts its year."""

    due_on: date

    def __reduce__(self) -> Any:
        return (_late_again, (self.template, self.params, self.due_on))


def _late_again(template: str, params: dict[str, Any], due_on: date) -> Late:
    finding = Late(template, **params)
    finding.due_on = due_on
    return finding


def _late(due: date, when: date, what: Message) -> str | None:
    if when <= due:
        return None
    finding = Late("%(what)s应于 %(due)s 前完成，实际 %(when)s", what=what, due=due, when=when)
    finding.due_on = due
    return finding


def _interview(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    assert f.applied_on
    return _late(add_months(f.applied_on, 1), r.occurred_on, Message("谈话"))


def _needs(attr: str, what: Message) -> Check:
    def check(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
        return None if getattr(f, attr) is not None else Message("尚未%(what)s", what=what)
    return check


def _cultivators(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    return _not_full(ctx, r.data.get("cultivators", []), r.occurred_on)


def _not_full(ctx: RuleContext, ids: list[int], day: date) -> str | None:
    if ctx.roster is None:
        return None
    bad = [ctx.roster[i].name for i in ids if i in ctx.roster and not ctx.roster[i].full_on(day)]
    return Message("%(names)s 在 %(day)s 不是正式党员", names="、".join(bad), day=day) \
        if bad else None


def _one_year(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    assert f.activist_on
    earliest = add_years(f.activist_on, 1)
    return Message("积极分子培养期满一年为 %(earliest)s，实际 %(on)s", earliest=earliest,
                   on=r.occurred_on) if r.occurred_on < earliest else None


def _introducers(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if r.step == "introducers_assigned":
        return _not_full(ctx, r.data.get("introducers", []), r.occurred_on)
    return None if len(f.introducers) == 2 else Message("表决前未确定两名入党介绍人")


def _approving(check: Check) -> Check:
    """A prerequisite judges an approval, never a return or a rejection: returning a
    pre-review because the political review is missing is the committee doing its job, not a
    miss of the branch's."""
    def judged(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
        return check(ctx, f, r) if r.data.get("decision") == "approved" else None
    judged.__name__ = getattr(check, "__name__", "check")
    return judged


def _political(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    return None if f.political_pass_on else Message("预审前没有合格的政治审查结论")


def _training(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if f.training_days >= 3 or f.training_hours >= 24:
        return None
    return Message("集中培训 %(days)s 天、%(hours)s 学时，不足 3 天或 24 学时",
                   days=f.training_days, hours=format(f.training_hours, "g"))


def _prereview(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    return None if f.pre_review_approved_on else Message("尚未通过上级党委预审")


def _notice_after(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    approved = f.pre_review_approved_on
    start = day_in(r.data.get("start_on"))
    if approved is None:
        return Message("公示开始时尚未通过预审")
    return Message("公示开始 %(start)s 早于预审通过 %(approved)s", start=start,
                   approved=approved) if start and start < approved else None


def _notice_days(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    start, end = day_in(r.data.get("start_on")), day_in(r.data.get("end_on"))
    assert start and end
    need = int(ctx.settings["notice_working_days"])
    counted = working_days(ctx.calendar, start, end)
    if counted.count >= need:
        return None
    return Message("公示 %(start)s 至 %(end)s 仅 %(n)s 个工作日，少于 %(need)s 个", start=start,
                   end=end, n=counted.count, need=need)


def _vote_after_notice(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    conversion = r.step == "conversion_voted"
    key = "notice_before_conversion" if conversion else "notice_before_admission"
    if not ctx.settings.get(key, True):
        return None
    notice: Notice | None = f.conversion_notice if conversion else f.notice
    if notice is None:
        return Message("表决前未进行公示")
    if notice.end_on >= r.occurred_on:
        return Message("公示 %(end)s 结束，表决应在其后", end=notice.end_on)
    return Message("公示中的异议经查属实") if notice.objections == "upheld" else None


def _vote_rules(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    result = machine.vote_result(r.data["vote"])
    if result.quorum:
        return None
    return result.reasons[0] if len(result.reasons) == 1 else Message(
        "%(first)s；%(second)s", first=result.reasons[0], second=result.reasons[1])


def _secret(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    return None if r.data["vote"].get("method") == "secret_ballot" else Message("未采用无记名投票")


def _approval_time(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    assert f.admission_vote_on
    months = 6 if r.data.get("extension_reason") else 3
    return _late(add_months(f.admission_vote_on, months), r.occurred_on, Message("审批"))


def _oath(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    assert f.approved_on
    months = int(ctx.settings["oath_window_months"])
    return _late(add_months(f.approved_on, months), r.occurred_on, Message("入党宣誓"))


def conversion_vote_due(ctx: RuleContext, f: Facts) -> date:
    """Expiry plus grace; a transfer during probation widens the grace (art. 35)."""
    expiry = f.probation_expiry
    assert expiry
    key = "transfer_grace_months" if f.transferred_in_probation else "conversion_grace_months"
    return add_months(expiry, int(ctx.settings[key]))


def _not_early(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    expiry = f.probation_expiry
    assert expiry
    return Message("预备期 %(expiry)s 届满前讨论转正", expiry=expiry) \
        if r.occurred_on < expiry else None


def _on_time(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if f.conversion_vote_on is not None:  # a resolution is already in force
        return None
    return _late(conversion_vote_due(ctx, f), r.occurred_on, Message("转正讨论"))


def _extension(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if r.data.get("outcome") != "extend":
        return None
    months = int(r.data.get("extend_months") or 0)
    if f.extensions >= 1:
        return Message("预备期只能延长一次")
    return None if 6 <= months <= 12 else Message("延长 %(n)s 个月，应为 6–12 个月", n=months)


def _conversion_approval(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    assert f.conversion_vote_on
    return _late(add_months(f.conversion_vote_on, 3), r.occurred_on, Message("转正审批"))


def _adult(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    birth = day_in(r.data.get("person", {}).get("birth_date"))
    if birth and add_years(birth, 18) > r.occurred_on:
        return Message("申请日 %(on)s 未满十八周岁", on=r.occurred_on)
    return None


def _independent(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if "independent_review" in r.exempt:
        return None
    for role, who in r.answerable():  # the decider of a committee decision, and the recorder
        if who in f.cultivators or who in f.introducers:
            return Message("%(role)s是该发展对象的培养联系人或入党介绍人，应当回避", role=role)
    return None


def _independent_prereview(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    if "independent_prereview" in r.exempt or f.review_submitter is None:
        return None
    if any(who == f.review_submitter for _, who in r.answerable()):
        return Message("预审人与报送预审的支部记录人是同一人")
    return None


def _disinterested_vote(ctx: RuleContext, f: Facts, r: StepRecord) -> str | None:
    who = r.recorded_by_member
    if who is None or "disinterested_vote" in r.exempt:
        return None
    if who == f.applicant_member:
        return Message("记录人是本案申请人本人")
    return Message("记录人是该发展对象的入党介绍人") if who in f.introducers else None


SEPARATION: tuple[Rule, ...] = (
    Rule("independent_review", "培养联系人、入党介绍人不得记录本案的支委会审查、预审、党委谈话和审批",
         "A cultivator or introducer never records the case's review, pre-review, committee "
         "interview or approval", "art. 13–25 (回避)", None, RuleClass.INVALID,
         on=("branch_committee_reviewed", "pre_review_decided", "committee_interviewed",
             "admission_approved", "conversion_approved"), check=_independent),
    Rule("independent_prereview", "签署预审意见的党委人员不得是报送预审的支部记录人",
         "The committee member signing off a pre-review is not who submitted it", "art. 18 (回避)",
         None, RuleClass.INVALID, on=("pre_review_decided",), check=_independent_prereview),
    Rule("disinterested_vote", "申请人本人和入党介绍人不得记录本案的表决",
         "Nobody records a vote on a case in which they are the applicant or an introducer",
         "art. 20 (回避)", None, RuleClass.INVALID, on=("admission_voted", "conversion_voted"),
         check=_disinterested_vote),
)

VIOLATIONS: tuple[Rule, ...] = (
    Rule("interview_within_one_month", "党组织应在收到入党申请书后一个月内派人谈话",
         "Interview the applicant within one month of the application", "art. 7", B,
         on=("applicant_interviewed",), check=_interview),
    Rule("activist_after_interview", "确定入党积极分子前应先与申请人谈话",
         "Designate an activist only after the interview", "art. 7–8", B,
         on=("activist_designated",), check=_needs("interviewed_on", Message("谈话"))),
    Rule("activist_filed_before_candidacy", "确定发展对象前应将入党积极分子报上级党委备案",
         "File the activist with the committee before candidacy", "art. 8", B,
         on=("candidate_designated",), check=_needs("activist_filed_on", Message("备案"))),
    Rule("cultivators_are_full_members", "培养联系人应为 1–2 名正式党员",
         "Cultivators must be one or two full members", "art. 9", B,
         on=("cultivators_assigned",), check=_cultivators),
    Rule("activist_assessed_half_yearly", "入党积极分子应每半年考察一次",
         "Assess activists at least every six months", "art. 11", B),
    Rule("activist_one_year", "入党积极分子经过一年以上培养教育和考察方可列为发展对象",
         "At least one year as an activist before candidacy", "art. 12–13", B,
         on=("candidate_designated",), check=_one_year),
    Rule("candidate_filed_before_review", "发展对象应报上级党委备案后再进行支委会审查",
         "File the candidate with the committee before the branch committee review",
         "art. 13", B, on=("branch_committee_reviewed",),
         check=_needs("candidate_filed_on", Message("备案"))),
    Rule("two_introducers", "应有两名正式党员作入党介绍人",
         "Two full members must introduce the candidate", "art. 14", B,
         on=("introducers_assigned", "admission_voted"), check=_introducers),
    Rule("political_review_before_prereview", "预审前应完成政治审查并形成结论性材料",
         "A passed political review with a written conclusion before pre-review", "art. 16",
         B, on=("pre_review_decided",), check=_approving(_political)),
    Rule("candidate_training_hours", "发展对象集中培训不少于 3 天或 24 学时",
         "Candidate training of at least 3 days or 24 class hours before pre-review",
         "art. 17", C, on=("pre_review_decided",), check=_approving(_training)),
    Rule("prereview_before_form", "经上级党委预审同意后方可填写入党志愿书",
         "Complete the application form only after pre-review approval", "art. 19", B,
         on=("application_form_completed",), check=_prereview),
    Rule("notice_after_prereview", "公示应在预审通过后进行",
         "Hold the public notice after pre-review approval", "local", B,
         on=("public_notice_held",), check=_notice_after),
    Rule("notice_working_days", "公示期不少于规定的工作日数",
         "The notice must cover the required number of working days", "local", B,
         on=("public_notice_held", "conversion_notice_held"), check=_notice_days),
    Rule("vote_after_notice", "公示期满且无影响发展的问题后方可提交支部大会表决",
         "Vote only after the notice ended without upheld objections", "local", B,
         on=("admission_voted", "conversion_voted"), check=_vote_after_notice),
    Rule("vote_rules", "支部大会到会有表决权的正式党员须超过应到人数的半数",
         "Quorum and majority must hold for the vote", "art. 20–21", B,
         on=("admission_voted", "conversion_voted"), check=_vote_rules),
    Rule("secret_ballot", "支部大会表决应采取无记名投票方式", "Vote by secret ballot",
         "art. 21", B, on=("admission_voted", "conversion_voted"), check=_secret),
    Rule("committee_interview_before_approval", "上级党委审批前应派专人谈话",
         "A committee interview before approval", "art. 22–24", C,
         on=("admission_approved",),
         check=_approving(_needs("committee_interview_on", Message("进行党委谈话")))),
    Rule("approval_within_three_months", "上级党委应在三个月内审批（特殊情况可延长至六个月）",
         "Approve within three months of the vote (six with a reason)", "art. 25", C,
         on=("admission_approved",), check=_approval_time),
    Rule("oath_within_window", "预备党员应在批准后及时入党宣誓",
         "Take the oath within the window after approval", "art. 30, local", B,
         on=("oath_taken",), check=_oath),
    Rule("probation_assessed_quarterly", "预备期内应每季度考察一次",
         "Assess probationary members every quarter", "local", B),
    Rule("conversion_vote_not_early", "预备期未满不得讨论转正",
         "Do not vote on conversion before probation expires", "art. 32–33", B,
         on=("conversion_voted",), check=_not_early),
    Rule("conversion_vote_on_time", "预备期满应及时讨论转正（转正超期）",
         "Vote on conversion on time after probation expires (overdue conversion)",
         "art. 32, 35", B, on=("conversion_voted",), check=_on_time),
    Rule("extension_length", "延长预备期为 6–12 个月，且只能延长一次",
         "An extension is 6–12 months and only once", "art. 32", B,
         on=("conversion_voted",), check=_extension),
    Rule("conversion_approval_within_three_months", "上级党委应在三个月内审批转正",
         "Approve the conversion within three months of the vote", "art. 34", C,
         on=("conversion_approved",), check=_conversion_approval),
    # judged across the branch's cases of a year (workflow/plans.py), not on one history
    Rule("admission_within_plan", "发展党员应有计划地进行，通过接收预备党员表决的人数不应超过年度发展计划",
         "Admission votes passed in a year stay within the branch's yearly plan",
         "art. 5 (有计划), local", B),
    Rule("documents_complete", "每个步骤的手续材料应齐全",
         "Every document listed for a step is attached or on file", "rubric item 13", None),
)

INVALIDS: tuple[Rule, ...] = (
    Rule("date_in_future", "日期不能晚于今天", "The date cannot be in the future", "—", None,
         RuleClass.INVALID),
    Rule("data_invalid", "步骤数据不完整或不正确", "The step's data is incomplete or wrong",
         "—", None, RuleClass.INVALID),
    Rule("step_not_allowed", "该步骤不属于案件当时所处的阶段或前一步骤尚未完成",
         "The step does not belong to the case's stage at that date", "—", None,
         RuleClass.INVALID),
    Rule("step_already_recorded", "该步骤已记录，如有错误请使用更正",
         "The step was already recorded; use a correction", "—", None, RuleClass.INVALID),
    Rule("applicant_under_18", "申请人申请时应年满十八周岁",
         "The applicant must be 18 on the application date", "art. 2", None, RuleClass.INVALID,
         on=("application_submitted",), check=_adult),
    Rule("correction_invalid", "更正的对象或内容不正确", "The correction target or fields are wrong",
         "—", None, RuleClass.INVALID),
    Rule("committee_step_by_branch", "该步骤只能由上级党委记录",
         "Only the committee records this step", "art. 13–34", None, RuleClass.INVALID),
    Rule("outside_scope", "不能操作其他党组织的案件", "The case belongs to another organisation",
         "—", None, RuleClass.INVALID),
)

REGISTRY: dict[str, Rule] = {r.id: r for r in (*VIOLATIONS, *INVALIDS, *SEPARATION)}
STEP_RULES: dict[str, tuple[Rule, ...]] = {}
for _rule in REGISTRY.values():
    for _step in _rule.on:
        STEP_RULES[_step] = (*STEP_RULES.get(_step, ()), _rule)



# The article each step of the 2014 rules comes from, for messages that name a step (the
# rules above cite the same numbers); steps not listed cite their stage's range.
STEP_ARTICLES: dict[str, str] = {
    "applicant_interviewed": "art. 7", "activist_designated": "art. 8",
    "activist_filed": "art. 8", "cultivators_assigned": "art. 9",
    "activist_assessed": "art. 11", "candidate_designated": "art. 12–13",
    "candidate_filed": "art. 13", "introducers_assigned": "art. 14",
    "political_review_concluded": "art. 16", "candidate_trained": "art. 17",
    "branch_committee_reviewed": "art. 18", "pre_review_decided": "art. 18",
    "application_form_completed": "art. 19", "admission_voted": "art. 20–21",
    "committee_interviewed": "art. 22–24", "admission_approved": "art. 25",
    "oath_taken": "art. 30", "conversion_voted": "art. 32–33",
    "conversion_approved": "art. 34",
}


def step_article(step: str) -> str:
    """The article a step comes from (STEP_ARTICLES), else its stage's range."""
    if step in STEP_ARTICLES:
        return STEP_ARTICLES[step]
    from workflow.states import STAGES  # local: the stages import nothing of the rules
    stage = STEPS[step].stage if step in STEPS else ""
    return next((m.ARTICLES for m in STAGES if m.STAGE == stage), "")
