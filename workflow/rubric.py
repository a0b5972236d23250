"""The annual assessment's development items (13 and 14), derived from replayed histories.

Item 13 (5 points): −2 per branch-responsible procedure miss, −1 per step whose documents are
incomplete on the scoring date, −2 for a year of admissions without a plan (workflow/plans.py),
0 if a branch-caused conversion ran over; item 14 (3 points):
−1 per invited activist absent from a committee course held in the year. Floors at 0. Every
deduction names its case, rule and step record; committee misses go to the committee's list.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from workflow.citations import article_text
from workflow.history import Paperwork, Responsible, Violation
from workflow.rules import REGISTRY
from workflow.steps import DOCUMENT_LABELS, STEPS

PROCEDURE_POINTS, PAPERWORK_POINTS, ABSENCE_POINTS = 2, 1, 1
ITEM13_MAX, ITEM14_MAX = 5, 3
OVERDUE_RULE = "conversion_vote_on_time"


class Scored(Protocol):
    """What scoring reads of a case on the scoring date: a Replay, or the Findings kept of it
    (workflow/findings.py), which answer the same without replaying the history."""

    org: str
    orgs: tuple[tuple[date, str], ...]
    violations: tuple[Violation, ...]
    paperwork: tuple[Paperwork, ...]

    @property
    def attended(self) -> frozenset[int]: ...

    def org_on(self, day: date) -> str: ...


@dataclass(frozen=True)
class Training:
    id: int
    title: str
    start_on: date
    end_on: date
    invitees: tuple[int, ...]


@dataclass(frozen=True)
class Deduction:
    kind: str  # procedure | paperwork | overdue_conversion | training_absence | no_plan
    case_id: int
    rule: str
    step_record_id: int | None
    points: int
    message: str
    on: date
    fix: str = ""
    # the same in English, for pages in English (`message`/`fix` are the Chinese of the API
    # and of the report files); a paperwork deduction's missing document types, so that a
    # page names them in its own language
    message_en: str = ""
    fix_en: str = ""
    documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    max: int
    score: int
    deductions: tuple[Deduction, ...]


@dataclass(frozen=True)
class Rubric:
    org: str
    year: int
    as_of: date
    items: Mapping[str, Item]
    committee: tuple[Deduction, ...] = field(default_factory=tuple)


def year_of(v: Violation) -> int:
    """Deadline misses count in the year they fell due, step misses in the step's year."""
    return (v.due_on or v.on).year


def _procedure(case_id: int, v: Violation, explain: bool = True) -> Deduction:
    """A procedure miss's deduction; without `explain` its kind, rule, step, points and day
    only (a deduction that is only counted)."""
    overdue = v.rule == OVERDUE_RULE
    head = ("overdue_conversion" if overdue else "procedure", case_id, v.rule, v.step_seq,
            ITEM13_MAX if overdue else PROCEDURE_POINTS)
    if not explain:
        return Deduction(*head, "", v.due_on or v.on)
    rule = REGISTRY[v.rule]
    return Deduction(*head, f"{rule.zh}（{article_text(rule.article)}）：{v.detail}", v.due_on or v.on,
                     _FIXES.get(v.rule, "按程序补正并在备注中说明原因"),
                     _procedure_en(rule.en, rule.article, v),
                     _FIXES_EN.get(v.rule, "Put the procedure right and give the reason in a note"))


def _paperwork(case_id: int, p: Paperwork, explain: bool = True) -> Deduction:
    """A step's missing papers' deduction; without `explain` no words (see `_procedure`)."""
    head = ("paperwork", case_id, "documents_complete", p.step_seq, PAPERWORK_POINTS)
    if not explain:
        return Deduction(*head, "", p.on, documents=tuple(p.missing))
    names = "、".join(DOCUMENT_LABELS.get(t, t) for t in p.missing)
    return Deduction(*head, f"「{STEPS[p.step].zh}」缺少手续：{names}", p.on,
                     f"上传或登记纸质存档：{names}",
                     f"“{STEPS[p.step].en}” lacks papers",
                     "Upload, or record where the paper copy is kept",
                     tuple(p.missing))


def _procedure_en(statement: str, article: str, v: Violation) -> str:
    """The miss in English from what the violation records as data (its dates); the check's
    Chinese detail (names, counts) is not repeated: the rule's statement says what is wrong."""
    head = f"{statement} ({article_text(article, 'en')})"
    if v.due_on is None:
        return head
    if v.step_seq is None:
        return f"{head}: due {v.due_on.isoformat()}, not done"
    return f"{head}: due {v.due_on.isoformat()}, done {v.on.isoformat()}"


def _case_deductions(org: str, year: int, case_id: int, r: Scored,
                     committee: list[Deduction], explain: bool = True) -> list[Deduction]:
    """The case's deductions from the branch (returned) and from the committee (appended to
    `committee`); without `explain` the branch's are counted only: their kind, rule, step,
    points and day, no text (the committee table shows their number, not their words)."""
    found = []
    for v in r.violations:
        if v.org != org or year_of(v) != year:
            continue
        if v.responsible is Responsible.BRANCH:
            found.append(_procedure(case_id, v, explain))
        else:
            committee.append(_procedure(case_id, v))
    for p in r.paperwork:
        if p.org != org or p.on.year != year:
            continue
        if p.responsible is Responsible.BRANCH:
            found.append(_paperwork(case_id, p, explain))
        else:
            committee.append(_paperwork(case_id, p))
    return found


def _item13(deductions: list[Deduction]) -> Item:
    if any(d.kind == "overdue_conversion" for d in deductions):
        score = 0
    else:
        score = max(0, ITEM13_MAX - sum(d.points for d in deductions))
    return Item(ITEM13_MAX, score, tuple(deductions))


def _item14(org: str, year: int, as_of: date, cases: Mapping[int, Scored],
            trainings: Iterable[Training]) -> Item:
    found = []
    for t in trainings:
        if t.start_on.year != year or t.end_on >= as_of:
            continue
        for case_id in t.invitees:
            r = cases.get(case_id)
            if r is None or r.org_on(t.start_on) != org or _attended(r, t.id):
                continue
            found.append(Deduction("training_absence", case_id, "training_attended", None,
                                   ABSENCE_POINTS, f"未参加党校培训「{t.title}」", t.end_on,
                                   "督促入党积极分子参加下一期培训",
                                   f"Absent from the party school course “{t.title}”",
                                   "See that the activist attends the next course"))
    return Item(ITEM14_MAX, max(0, ITEM14_MAX - sum(d.points for d in found)), tuple(found))


def _attended(r: Scored, training_id: int) -> bool:
    return training_id in r.attended


def score(org: str, year: int, as_of: date, cases: Mapping[int, Scored],
          trainings: Iterable[Training] = (), plan: Iterable[Deduction] = (),
          explain: bool = True) -> Rubric:
    """Score one branch: `cases` are replays as of `as_of` (or the findings kept of them),
    keyed by case id; `plan` the year's plan deductions (workflow/plans.py: they judge the
    branch's cases together, not one history). Without `explain` the branch's procedure and
    paperwork deductions carry no text (the same scores and counts; the committee table,
    which scores every branch and shows only their number, made 200,000 sentences at
    100,000 cases for nobody); the committee's are always explained."""
    committee: list[Deduction] = []
    item13: list[Deduction] = []
    for case_id, r in sorted(cases.items()):
        item13 += _case_deductions(org, year, case_id, r, committee, explain)
    item13 += [d for d in plan if d.on <= as_of]
    return Rubric(org, year, as_of,
                  {"13": _item13(item13), "14": _item14(org, year, as_of, cases, trainings)},
                  tuple(committee))


_FIXES = {
    "interview_within_one_month": "今后收到申请书后一个月内安排谈话；补记谈话记录",
    "activist_after_interview": "补充谈话并上传谈话记录，说明未谈话即确定的原因",
    "activist_filed_before_candidacy": "补报上级党委备案并登记备案材料",
    "activist_assessed_half_yearly": "补记该半年的考察情况，今后每半年考察一次",
    "candidate_filed_before_review": "补报发展对象备案材料",
    "two_introducers": "确定两名正式党员作入党介绍人",
    "political_review_before_prereview": "补充政治审查结论性材料",
    "notice_working_days": "延长公示期至规定工作日数后再表决",
    "vote_after_notice": "公示期满后重新提交支部大会表决",
    "vote_rules": "确保到会人数超过应到人数半数后重新表决",
    "secret_ballot": "今后表决采用无记名投票",
    "oath_within_window": "尽快组织入党宣誓",
    "probation_assessed_quarterly": "补记该季度考察情况，今后每季度考察一次",
    "conversion_vote_on_time": "立即召开支部大会讨论转正",
}

_FIXES_EN = {
    "interview_within_one_month": "From now on hold the interview within one month of the "
                                  "application; record the interview",
    "activist_after_interview": "Hold the interview, upload its record and give the reason the "
                                "activist was designated without one",
    "activist_filed_before_candidacy": "File the activist with the committee and record the "
                                       "filing papers",
    "activist_assessed_half_yearly": "Record the half-year's assessment; assess every six "
                                     "months from now on",
    "candidate_filed_before_review": "File the candidate's papers with the committee",
    "two_introducers": "Assign two full members as introducers",
    "political_review_before_prereview": "Add the political review's written conclusion",
    "notice_working_days": "Extend the notice to the required working days before voting",
    "vote_after_notice": "Put the vote to the branch meeting again after the notice ends",
    "vote_rules": "Vote again with more than half of the members entitled to attend present",
    "secret_ballot": "Vote by secret ballot from now on",
    "oath_within_window": "Hold the oath as soon as possible",
    "probation_assessed_quarterly": "Record the quarter's assessment; assess every quarter "
                                    "from now on",
    "conversion_vote_on_time": "Hold the branch meeting on the conversion at once",
}
