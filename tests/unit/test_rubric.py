"""The annual assessment's items 13 and 14 (spec section 8), scored to the point."""
from __future__ import annotations

from datetime import date

import pytest

from workflow.history import DocumentRef
from workflow.replay import replay
from workflow.rubric import Rubric, Training, score
from tests.unit.builders import HAPPY, PERSON, ROSTER, Entry, History, build, d, drop, edit, until

AS_OF = d("2026-03-01")


def _seq(entries: list[Entry], step: str, occurrence: int = 0) -> int:
    return [i for i, e in enumerate(entries) if e[0] == step][occurrence] + 1


def _replay(h: History | list[Entry], as_of: date = AS_OF, documents=None):
    h = build(h) if isinstance(h, list) else h
    r = replay(h.records, as_of, documents=h.documents if documents is None else documents,
               roster=ROSTER)
    assert r.valid, r.invalid
    return r


def _score(cases: dict, year: int, as_of: date = AS_OF, org: str = "B1",
           trainings=()) -> Rubric:
    """The rubric, checked against the committee table's way of scoring (`explain=False`):
    the same points, the same deductions bar their text, the committee's the same."""
    r = score(org, year, as_of, cases, trainings)
    counted = score(org, year, as_of, cases, trainings, explain=False)
    assert _points(counted) == _points(r) and counted.committee == r.committee
    assert {k: _named(i.deductions) for k, i in counted.items.items()} == {
        k: _named(i.deductions) for k, i in r.items.items()}
    assert {d.documents for i in counted.items.values() for d in i.deductions} == {
        d.documents for i in r.items.values() for d in i.deductions}
    return r


def _points(r: Rubric) -> tuple[int, int]:
    return r.items["13"].score, r.items["14"].score


def _named(deductions) -> list[tuple]:
    """What a branch is told: kind, case, rule, step record, points, date."""
    return [(x.kind, x.case_id, x.rule, x.step_record_id, x.points, x.on) for x in deductions]


def _without_docs(h: History, *seqs: int) -> list[DocumentRef]:
    return [doc for doc in h.documents if doc.step_seq not in seqs]


# --- a clean branch --------------------------------------------------------------------------

@pytest.mark.parametrize("year", [2023, 2024, 2025])
def test_a_clean_branch_scores_five_and_three(year):
    r = _score({1: _replay(HAPPY)}, year)
    assert _points(r) == (5, 3)
    assert r.items["13"].max == 5 and r.items["14"].max == 3
    assert r.items["13"].deductions == () and r.items["14"].deductions == ()
    assert r.committee == ()
    assert (r.org, r.year, r.as_of) == ("B1", year, AS_OF)


def test_a_branch_without_cases_scores_full_marks():
    assert _points(_score({}, 2024)) == (5, 3)


# --- item 13: procedure (−2 per branch violation) --------------------------------------------

def test_one_branch_violation_costs_two_points_in_its_year():
    e = edit(HAPPY, "applicant_interviewed", "2023-04-02")  # due 2023-04-01
    cases = {7: _replay(e)}
    r = _score(cases, 2023)
    assert _points(r) == (3, 3)
    assert _named(r.items["13"].deductions) == [
        ("procedure", 7, "interview_within_one_month", 2, 2, d("2023-04-01"))]
    assert "（第七条）" in r.items["13"].deductions[0].message  # the article in words
    assert r.items["13"].deductions[0].fix
    assert _points(_score(cases, 2024)) == (5, 3)


@pytest.mark.parametrize("changes,expected", [
    ([("secret_ballot",)], 3),
    ([("secret_ballot",), ("no_activist_filing",)], 1),
    ([("secret_ballot",), ("no_activist_filing",), ("short_notice",)], 0),  # 5 − 6 floors at 0
])
def test_each_branch_violation_costs_two_and_the_item_floors_at_zero(changes, expected):
    e = HAPPY
    for (change,) in changes:
        if change == "secret_ballot":
            e = edit(e, "admission_voted", vote={**e[_seq(e, "admission_voted") - 1][2]["vote"],
                                                 "method": "show_of_hands"})
        elif change == "no_activist_filing":
            e = drop(e, "activist_filed")
        else:
            e = edit(e, "public_notice_held", start_on="2024-05-29")  # 4 working days
    r = _score({1: _replay(e)}, 2024)
    assert r.items["13"].score == expected
    assert [x.points for x in r.items["13"].deductions] == [2] * len(changes)


def test_violations_of_several_cases_add_up():
    late = _replay(edit(HAPPY, "applicant_interviewed", "2023-04-02"))
    no_filing = _replay(drop(HAPPY, "activist_filed"))  # flagged at candidacy, 2024-04-15
    both_2023 = _replay(edit(edit(HAPPY, "applicant_interviewed", "2023-04-02"),
                             "cultivators_assigned", cultivators=[1, 6]))
    r = _score({1: late, 2: no_filing, 3: both_2023}, 2023)
    assert r.items["13"].score == 0  # 5 − 3 × 2
    assert sorted((x.case_id, x.rule) for x in r.items["13"].deductions) == [
        (1, "interview_within_one_month"), (3, "cultivators_are_full_members"),
        (3, "interview_within_one_month")]
    r = _score({1: late, 2: no_filing, 3: both_2023}, 2024)
    assert _named(r.items["13"].deductions) == [
        ("procedure", 2, "activist_filed_before_candidacy", _seq(drop(HAPPY, "activist_filed"),
                                                                 "candidate_designated"),
         2, d("2024-04-15"))]
    assert r.items["13"].score == 3


def test_a_missed_deadline_counts_in_the_year_of_its_due_date():
    # applied 2023-11-30: the interview was due 2023-12-30 and happened in January
    e = [("application_submitted", "2023-11-30", {"person": PERSON, "branch": "B1"}),
         ("applicant_interviewed", "2024-01-05", {"interviewer": "张伟"})]
    cases = {1: _replay(e, d("2024-02-01"))}
    assert _named(_score(cases, 2023, d("2024-02-01")).items["13"].deductions) == [
        ("procedure", 1, "interview_within_one_month", 2, 2, d("2023-12-30"))]
    assert _score(cases, 2024, d("2024-02-01")).items["13"].deductions == ()
    # before the interview was recorded the miss was a deadline violation of the same year
    pending = {1: _replay(e[:1], d("2023-12-31"))}
    assert _named(_score(pending, 2023, d("2023-12-31")).items["13"].deductions) == [
        ("procedure", 1, "interview_within_one_month", None, 2, d("2023-12-30"))]


def test_a_missed_assessment_window_is_one_deduction_without_a_step_record():
    e = drop(HAPPY, "activist_assessed", occurrence=1)  # window ending 2024-04-09 is empty
    r = _score({4: _replay(e)}, 2024)
    assert _named(r.items["13"].deductions) == [
        ("procedure", 4, "activist_assessed_half_yearly", None, 2, d("2024-04-09"))]
    assert r.items["13"].score == 3


# --- item 13: paperwork (−1 per step with missing documents) ---------------------------------

def test_a_step_with_missing_documents_costs_one_point():
    h = build(HAPPY)
    r = _score({3: _replay(h, documents=_without_docs(h, 2))}, 2023)
    assert _named(r.items["13"].deductions) == [
        ("paperwork", 3, "documents_complete", 2, 1, d("2023-03-15"))]
    assert r.items["13"].score == 4
    assert "谈话记录" in r.items["13"].deductions[0].message


def test_one_point_per_step_not_per_missing_document():
    h = build(HAPPY)
    seq = _seq(HAPPY, "activist_designated")  # lists two documents
    r = _score({3: _replay(h, documents=_without_docs(h, seq))}, 2023)
    assert r.items["13"].score == 4
    assert len(r.items["13"].deductions) == 1


def test_a_document_attached_after_the_scoring_date_does_not_count_until_then():
    h = build(HAPPY)
    late = DocumentRef(2, "interview_record", d("2024-02-01"))
    docs = _without_docs(h, 2) + [late]
    before = _score({1: _replay(h, d("2024-01-31"), docs)}, 2023, d("2024-01-31"))
    assert before.items["13"].score == 4
    assert _named(before.items["13"].deductions) == [
        ("paperwork", 1, "documents_complete", 2, 1, d("2023-03-15"))]
    after = _score({1: _replay(h, d("2024-02-01"), docs)}, 2023, d("2024-02-01"))
    assert after.items["13"].score == 5 and after.items["13"].deductions == ()


def test_paperwork_and_procedure_deductions_add_up():
    h = build(edit(HAPPY, "applicant_interviewed", "2023-04-02"))
    r = _score({1: _replay(h, documents=_without_docs(h, 2))}, 2023)
    assert r.items["13"].score == 2  # 5 − 2 − 1
    assert sorted(x.kind for x in r.items["13"].deductions) == ["paperwork", "procedure"]


def test_missing_paperwork_floors_at_zero():
    h = build(HAPPY)
    steps = ["candidate_filed", "political_review_concluded", "branch_committee_reviewed",
             "public_notice_held", "application_form_completed", "admission_voted"]
    seqs = [_seq(HAPPY, s) for s in steps]
    r = _score({1: _replay(h, documents=_without_docs(h, *seqs))}, 2024)
    assert r.items["13"].score == 0
    assert sorted(x.step_record_id for x in r.items["13"].deductions) == seqs


def test_missing_documents_of_a_committee_step_go_to_the_committee():
    h = build(HAPPY)
    seq = _seq(HAPPY, "pre_review_decided")
    r = _score({1: _replay(h, documents=_without_docs(h, seq))}, 2024)
    assert r.items["13"].score == 5 and r.items["13"].deductions == ()
    assert _named(r.committee) == [("paperwork", 1, "documents_complete", seq, 1,
                                    d("2024-05-27"))]


# --- item 13: overdue conversion (转正超期) --------------------------------------------------

def _assessed(on: str, period: str) -> Entry:
    return ("probation_assessed", on, {"period": period, "conclusion": "合格"})


ON_PROBATION = until(HAPPY, "conversion_notice_held") + [_assessed("2025-06-30", "2025Q2")]


def test_no_conversion_vote_by_expiry_plus_one_month_zeroes_item_13():
    ok = _score({5: _replay(ON_PROBATION, d("2025-07-12"))}, 2025, d("2025-07-12"))
    assert ok.items["13"].score == 5
    r = _score({5: _replay(ON_PROBATION, d("2025-07-13"))}, 2025, d("2025-07-13"))
    assert r.items["13"].score == 0
    assert _named(r.items["13"].deductions) == [
        ("overdue_conversion", 5, "conversion_vote_on_time", None, 5, d("2025-07-12"))]


def test_a_late_conversion_vote_zeroes_item_13_even_with_points_left():
    e = edit(HAPPY, "conversion_voted", "2025-07-14")
    e = edit(edit(e, "conversion_approved", "2025-07-20"), "file_archived", "2025-07-25")
    i = _seq(e, "conversion_requested") - 1
    e = e[:i] + [_assessed("2025-06-30", "2025Q2")] + e[i:]
    r = _score({5: _replay(e)}, 2025)
    assert r.items["13"].score == 0
    assert _named(r.items["13"].deductions) == [
        ("overdue_conversion", 5, "conversion_vote_on_time", _seq(e, "conversion_voted"), 5,
         d("2025-07-12"))]


def test_an_overdue_conversion_counts_in_the_year_of_its_due_date():
    # transferred during probation: due expiry 2025-06-12 + 6 months = 2025-12-12; voted 2026
    e = edit(HAPPY, "conversion_voted", "2026-01-05")
    e = edit(edit(e, "conversion_approved", "2026-01-20"), "file_archived", "2026-01-25")
    e = sorted(e + [("case_transferred", "2024-10-01", {"to_branch": "B2"}),
                    _assessed("2025-06-30", "2025Q2"), _assessed("2025-09-30", "2025Q3")],
               key=lambda x: x[1])
    cases = {9: _replay(e)}
    r2025 = _score(cases, 2025, org="B2")
    assert r2025.items["13"].score == 0
    assert _named(r2025.items["13"].deductions) == [
        ("overdue_conversion", 9, "conversion_vote_on_time", _seq(e, "conversion_voted"), 5,
         d("2025-12-12"))]
    r2026 = _score(cases, 2026, org="B2")
    assert r2026.items["13"].score == 5 and r2026.items["13"].deductions == ()


# --- committee-responsible violations --------------------------------------------------------

def test_a_late_approval_costs_the_branch_nothing_and_is_reported_to_the_committee():
    e = edit(HAPPY, "admission_approved", "2024-09-13")
    for step in ("admission_filed", "group_assigned", "oath_taken"):
        e = edit(e, step, "2024-09-15")
    r = _score({2: _replay(e)}, 2024)
    assert _points(r) == (5, 3)
    assert r.items["13"].deductions == ()
    assert _named(r.committee) == [
        ("procedure", 2, "approval_within_three_months", _seq(e, "admission_approved"), 2,
         d("2024-09-12"))]
    assert _score({2: _replay(e)}, 2025).committee == ()


def test_short_candidate_training_is_the_committees_not_the_branchs():
    e = edit(HAPPY, "candidate_trained", end_on="2024-05-14", hours=16)
    r = _score({2: _replay(e)}, 2024)
    assert r.items["13"].score == 5
    assert [(x.rule, x.step_record_id) for x in r.committee] == [
        ("candidate_training_hours", _seq(e, "pre_review_decided"))]


# --- other organisations ---------------------------------------------------------------------

def test_violations_of_another_branch_do_not_count():
    other = edit(edit(HAPPY, "application_submitted", branch="B2"),
                 "applicant_interviewed", "2023-04-02")
    assert _points(_score({1: _replay(other)}, 2023)) == (5, 3)
    assert _score({1: _replay(other)}, 2023, org="B2").items["13"].score == 3


def test_a_transferred_case_counts_each_violation_for_the_branch_that_had_it():
    e = edit(until(HAPPY, "cultivators_assigned"), "applicant_interviewed", "2023-04-02")
    e = e + [("case_transferred", "2023-06-01", {"to_branch": "B2"}),
             ("activist_assessed", "2023-09-30", {"period": "2023H2", "conclusion": "良好"})]
    r = _replay(e, d("2023-12-31"))
    assert r.org == "B2"
    assert [(v.rule, v.org) for v in r.violations] == [("interview_within_one_month", "B1")]
    assert _score({1: r}, 2023, d("2023-12-31"), org="B1").items["13"].score == 3
    assert _score({1: r}, 2023, d("2023-12-31"), org="B2").items["13"].score == 5


# --- item 14: activist training --------------------------------------------------------------

COURSE = Training(11, "2024年春季入党积极分子培训班", d("2024-03-04"), d("2024-03-08"),
                  (1, 2, 3))
ACTIVIST = until(HAPPY, "activist_assessed")  # an activist of B1 since 2023-04-10


def _trained(attended: bool | None, training_id: int = 11, org: str = "B1") -> list[Entry]:
    e = edit(ACTIVIST, "application_submitted", branch=org)
    if attended is None:
        return e
    return e + [("training_attended", "2024-03-08",
                 {"training_id": training_id, "attended": attended, "hours": 24})]


def _activists(as_of: date, **cases: list[Entry]) -> dict[int, object]:
    return {int(k[1:]): _replay(v, as_of) for k, v in cases.items()}


def test_absent_or_unrecorded_invitees_cost_one_point_each():
    as_of = d("2024-03-20")
    cases = _activists(as_of, c1=_trained(True), c2=_trained(False), c3=_trained(None))
    r = _score(cases, 2024, as_of, trainings=[COURSE])
    assert r.items["14"].score == 1
    assert _named(r.items["14"].deductions) == [
        ("training_absence", 2, "training_attended", None, 1, d("2024-03-08")),
        ("training_absence", 3, "training_attended", None, 1, d("2024-03-08"))]
    assert "2024年春季入党积极分子培训班" in r.items["14"].deductions[0].message
    assert r.items["13"].score == 5  # training is item 14's business only


def test_everyone_attending_keeps_three_points():
    as_of = d("2024-03-20")
    cases = _activists(as_of, c1=_trained(True), c2=_trained(True), c3=_trained(True))
    assert _score(cases, 2024, as_of, trainings=[COURSE]).items["14"].score == 3


@pytest.mark.parametrize("as_of", ["2024-03-06", "2024-03-08"])
def test_a_course_not_yet_ended_costs_nothing(as_of):
    cases = _activists(d(as_of), c2=_trained(False), c3=_trained(None))
    r = _score(cases, 2024, d(as_of), trainings=[COURSE])
    assert r.items["14"].score == 3 and r.items["14"].deductions == ()


def test_the_day_after_the_course_an_unrecorded_invitee_counts():
    as_of = d("2024-03-09")
    r = _score(_activists(as_of, c3=_trained(None)), 2024, as_of, trainings=[COURSE])
    assert [x.case_id for x in r.items["14"].deductions] == [3]


def test_attendance_of_another_course_does_not_excuse_the_absence():
    as_of = d("2024-03-20")
    r = _score(_activists(as_of, c1=_trained(True, training_id=12)), 2024, as_of,
               trainings=[COURSE])
    assert [x.case_id for x in r.items["14"].deductions] == [1]


def test_a_course_of_another_year_does_not_count():
    as_of = d("2024-03-20")
    cases = _activists(as_of, c3=_trained(None))
    assert _score(cases, 2023, as_of, trainings=[COURSE]).items["14"].deductions == ()


def test_invitees_of_another_branch_do_not_count():
    as_of = d("2024-03-20")
    cases = _activists(as_of, c3=_trained(None, org="B2"))
    assert _score(cases, 2024, as_of, trainings=[COURSE]).items["14"].score == 3
    assert _score(cases, 2024, as_of, org="B2", trainings=[COURSE]).items["14"].score == 2


def test_item_14_floors_at_zero():
    as_of = d("2024-03-20")
    course = Training(11, "培训班", d("2024-03-04"), d("2024-03-08"), (1, 2, 3, 4))
    cases = _activists(as_of, c1=_trained(False), c2=_trained(False), c3=_trained(None),
                       c4=_trained(None))
    r = _score(cases, 2024, as_of, trainings=[course])
    assert r.items["14"].score == 0 and len(r.items["14"].deductions) == 4



def test_missed_deadline_is_charged_to_the_branch_holding_the_case_when_it_fell_due():
    from tests.unit.builders import HAPPY, build, d
    from workflow.replay import replay
    from workflow.rubric import score
    # applied 2023-03-01 in B1, never interviewed (due 2023-04-01), transferred to B2 on 2023-05-01
    h = build(HAPPY[:1] + [("case_transferred", "2023-05-01", {"to_branch": "B2"})])
    r = replay(h.records, d("2023-12-31"), documents=h.documents)
    assert [(v.rule, v.org) for v in r.violations] == [("interview_within_one_month", "B1")]
    b1 = score("B1", 2023, d("2023-12-31"), {1: r})
    b2 = score("B2", 2023, d("2023-12-31"), {1: r})
    assert b1.items["13"].score == 3 and b2.items["13"].score == 5


# --- recomputation, and the zero and floors together -----------------------------------------

def test_scoring_is_a_pure_function_of_the_history():
    """Same history, same score; one more document, the deduction is gone: nothing is kept
    between two calls, so the rubric never needs a cache to be invalidated."""
    h = build(HAPPY)
    docs = _without_docs(h, 2)
    first = _score({1: _replay(h, documents=docs)}, 2023)
    assert first == _score({1: _replay(h, documents=list(docs))}, 2023)
    assert first.items["13"].score == 4
    attached = docs + [DocumentRef(2, "interview_record", d("2024-01-10"))]
    again = _score({1: _replay(h, documents=attached)}, 2023)
    assert again.items["13"].score == 5 and again.items["13"].deductions == ()


def test_the_overdue_zero_keeps_every_other_deduction_listed():
    h = build(ON_PROBATION)
    seq = _seq(ON_PROBATION, "conversion_requested")
    as_of = d("2025-07-13")
    r = _score({5: _replay(h, as_of, _without_docs(h, seq))}, 2025, as_of)
    assert r.items["13"].score == 0
    assert sorted((x.kind, x.points) for x in r.items["13"].deductions) == [
        ("overdue_conversion", 5), ("paperwork", 1)]


def test_item_14_counts_each_course_and_floors_at_zero():
    as_of = d("2024-12-31")
    autumn = Training(12, "秋季培训班", d("2024-10-08"), d("2024-10-10"), (1, 2))
    cases = _activists(as_of, c1=_trained(True), c2=_trained(None))
    r = _score(cases, 2024, as_of, trainings=[COURSE, autumn])
    # spring: c2 absent (c1 attended, c3 is not a case); autumn: c1 and c2 without a record
    assert sorted((x.case_id, x.message) for x in r.items["14"].deductions) == [
        (1, "未参加党校培训「秋季培训班」"), (2, "未参加党校培训「2024年春季入党积极分子培训班」"),
        (2, "未参加党校培训「秋季培训班」")]
    assert r.items["14"].score == 0


def test_each_procedure_deduction_also_reads_in_english():
    """A page in English shows `message_en`/`fix_en`: the rule's English statement and its
    article, with the dates the miss records (a deadline not met, a step done late); the
    Chinese `message` (API, files) keeps the check's detail."""
    from workflow.history import Responsible, Violation
    from workflow.rubric import _case_deductions

    class Findings:
        org, orgs, paperwork, attended = "B", (), (), frozenset()
        violations = (
            Violation("activist_assessed_half_yearly", Responsible.BRANCH, None,
                      d("2024-04-09"), "2024-04-09 到期未完成", d("2024-04-09"), "B"),
            Violation("interview_within_one_month", Responsible.BRANCH, 3, d("2024-04-20"),
                      "谈话应于 2024-04-01 前完成，实际 2024-04-20", d("2024-04-01"), "B"),
            Violation("two_introducers", Responsible.BRANCH, 5, d("2024-05-02"), "张三 不是正式党员",
                      None, "B"))

        def org_on(self, day):
            return "B"

    found = _case_deductions("B", 2024, 7, Findings(), [])
    assert [x.message_en for x in found] == [
        "Assess activists at least every six months (art. 11): due 2024-04-09, not done",
        ("Interview the applicant within one month of the application (art. 7): "
         "due 2024-04-01, done 2024-04-20"),
        "Two full members must introduce the candidate (art. 14)"]
    assert found[1].message.endswith("谈话应于 2024-04-01 前完成，实际 2024-04-20")
    assert found[2].fix_en == "Assign two full members as introducers"
    assert all(x.fix_en and not any("\u4e00" <= c <= "\u9fff" for c in x.fix_en) for x in found)
