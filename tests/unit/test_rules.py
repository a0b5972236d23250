"""One history per rule that produces exactly that rule's violation, with its edge dates."""
from __future__ import annotations

import pytest

from workflow.replay import replay
from workflow.rules import REGISTRY, VIOLATIONS, RuleClass
from tests.unit.builders import HAPPY, ROSTER, build, d, drop, edit, until, vote

TODAY = d("2025-12-31")


def _rules(entries, today=TODAY):
    h = build(entries)
    r = replay(h.records, today, documents=h.documents, roster=ROSTER)
    assert r.valid, r.invalid
    return sorted(v.rule for v in r.violations), r


def test_happy_path_has_no_violations_and_ends_archived():
    found, r = _rules(HAPPY)
    assert found == []
    assert r.state == "full_member.archived"
    assert r.paperwork == ()


def _shift_activist_start(entries):
    """Designation on 2023-03-25 (before the interview was due) and assessments in its windows."""
    e = drop(entries, "applicant_interviewed")
    e = edit(e, "activist_designated", "2023-03-25")
    e = edit(e, "activist_assessed", "2023-09-20")
    return edit(e, "activist_assessed", "2024-03-20", occurrence=1)


def _late_approval(entries, on="2024-09-13", **data):
    e = edit(entries, "admission_approved", on, **data)
    for step in ("admission_filed", "group_assigned", "oath_taken"):
        e = edit(e, step, "2024-09-15")
    return e


def _late_conversion(entries):
    e = edit(entries, "conversion_voted", "2025-07-14")
    e = edit(e, "conversion_approved", "2025-07-20")
    e = edit(e, "file_archived", "2025-07-25")
    i = [s for s, *_ in e].index("conversion_requested")
    return e[:i] + [("probation_assessed", "2025-06-30",
                     {"period": "2025Q2", "conclusion": "合格"})] + e[i:]


def _extended(months):
    e = until(HAPPY, "conversion_approved")
    e = edit(e, "conversion_voted", outcome="extend", extend_months=months)
    i = [s for s, *_ in e].index("conversion_requested")
    return e[:i] + [("probation_assessed", "2025-06-30",
                     {"period": "2025Q2", "conclusion": "合格"})] + e[i:]


CASES = {
    # 2023-03-01 + 1 month = 2023-04-01: the 2nd of April is one day late
    "interview_within_one_month": edit(HAPPY, "applicant_interviewed", "2023-04-02"),
    "activist_after_interview": _shift_activist_start(HAPPY),
    "activist_filed_before_candidacy": drop(HAPPY, "activist_filed"),
    "cultivators_are_full_members": edit(HAPPY, "cultivators_assigned", cultivators=[1, 6]),
    # the window 2023-10-10 .. 2024-04-09 passes without an assessment
    "activist_assessed_half_yearly": drop(HAPPY, "activist_assessed", occurrence=1),
    # designated 2023-04-10: a year later is 2024-04-10; the 9th is one day early
    "activist_one_year": edit(HAPPY, "candidate_designated", "2024-04-09"),
    "candidate_filed_before_review": drop(HAPPY, "candidate_filed"),
    "two_introducers": drop(HAPPY, "introducers_assigned"),
    "political_review_before_prereview": edit(HAPPY, "political_review_concluded",
                                              conclusion="fail"),
    "candidate_training_hours": edit(HAPPY, "candidate_trained", end_on="2024-05-14", hours=16),
    "prereview_before_form": edit(HAPPY, "application_form_completed", "2024-05-22"),
    "notice_after_prereview": edit(HAPPY, "public_notice_held", start_on="2024-05-24"),
    # 29 May .. 3 June 2024 holds 4 working days (1–2 June is a weekend)
    "notice_working_days": edit(HAPPY, "public_notice_held", start_on="2024-05-29"),
    "vote_after_notice": edit(HAPPY, "public_notice_held", objections="upheld"),
    "vote_rules": until(edit(HAPPY, "admission_voted", vote=vote(present=5, yes=5)),
                        "committee_interviewed"),
    "secret_ballot": edit(HAPPY, "admission_voted", vote=vote(method="show_of_hands")),
    "committee_interview_before_approval": drop(HAPPY, "committee_interviewed"),
    # vote 2024-06-12 + 3 months = 2024-09-12
    "approval_within_three_months": _late_approval(HAPPY),
    # approval 2024-07-10 + 3 months = 2024-10-10
    "oath_within_window": edit(HAPPY, "oath_taken", "2024-10-11"),
    "probation_assessed_quarterly": drop(HAPPY, "probation_assessed", occurrence=1),
    # expiry = admission vote 2024-06-12 + 1 year
    "conversion_vote_not_early": edit(HAPPY, "conversion_voted", "2025-06-11"),
    # due = expiry 2025-06-12 + 1 month grace = 2025-07-12
    "conversion_vote_on_time": _late_conversion(HAPPY),
    "extension_length": _extended(3),
    # conversion vote 2025-06-12 + 3 months = 2025-09-12
    "conversion_approval_within_three_months": edit(
        edit(HAPPY, "conversion_approved", "2025-09-13"), "file_archived", "2025-09-20"),
}


# the extended probation has not run out yet on this day
TODAYS = {"extension_length": d("2025-07-15")}


def test_every_violation_rule_has_a_case():
    # the plan rule judges a branch's year, not one history: tests/unit/test_plans.py
    rules = {r.id for r in VIOLATIONS} - {"documents_complete", "admission_within_plan"}
    assert rules == set(CASES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_case_produces_exactly_its_rule(rule):
    found, _ = _rules(CASES[rule], TODAYS.get(rule, TODAY))
    assert found == [rule]


@pytest.mark.parametrize("entries,today", [
    (edit(HAPPY, "applicant_interviewed", "2023-04-01"), TODAY),  # exactly one month: on time
    (edit(HAPPY, "candidate_designated", "2024-04-10"), TODAY),  # exactly one year
    (edit(HAPPY, "conversion_voted", "2025-06-12"), TODAY),  # on the expiry date
    (_late_approval(HAPPY, "2024-09-12"), TODAY),  # the last day of three months
    (_late_approval(HAPPY, extension_reason="外调未归"), TODAY),  # six months with a reason
    (edit(HAPPY, "oath_taken", "2024-10-10"), TODAY),
    (_extended(6), d("2025-07-15")),
    (_extended(12), d("2025-07-15")),
])
def test_edges_that_hold(entries, today):
    found, _ = _rules(entries, today)
    assert found == []


def test_leap_day_application_interview_due_end_of_february():
    # 2024-01-31 + 1 month = 2024-02-29: an interview on 1 March is late
    e = edit(edit(HAPPY[:2], "application_submitted", "2024-01-31"), "applicant_interviewed",
             "2024-03-01")
    found, r = _rules(e, d("2024-03-02"))
    assert found == ["interview_within_one_month"]
    assert r.violations[0].due_on == d("2024-02-29")


def test_missed_interview_is_a_deadline_violation_counted_on_its_due_date():
    found, r = _rules(HAPPY[:1], d("2023-04-02"))
    assert found == ["interview_within_one_month"]
    assert r.violations[0].step_seq is None and r.violations[0].due_on == d("2023-04-01")
    found, _ = _rules(HAPPY[:1], d("2023-04-01"))
    assert found == []


def test_probation_from_leap_day_vote_expires_28_february():
    from workflow.facts import Facts
    f = Facts(admission_vote_on=d("2024-02-29"))
    assert f.probation_expiry == d("2025-02-28")
    f.extension_months = 6
    assert f.probation_expiry == d("2025-08-28")


def test_rules_in_force_on_each_date():
    from workflow.rulesets import DEFAULT_RULEBOOK
    assert not DEFAULT_RULEBOOK.on(d("2014-05-27")).enabled("secret_ballot")
    assert DEFAULT_RULEBOOK.on(d("2014-05-28")).enabled("secret_ballot")
    assert DEFAULT_RULEBOOK.on(d("1985-01-01")).rule_set.id == "national-1990"


def test_a_2011_case_is_judged_by_the_1990_rules():
    e = [("application_submitted", "2011-03-01", {"person": {"name": "老王", "gender": "male",
                                                            "birth_date": "1980-01-01"}}),
         ("applicant_interviewed", "2011-05-10", {"interviewer": "张伟"}),  # late under 2014
         ("activist_designated", "2011-06-01", {"method": "member_recommendation",
                                                "committee_meeting_on": "2011-05-30"})]
    found, _ = _rules(e, d("2011-07-01"))
    assert found == []


def test_org_override_lengthens_the_notice():
    from workflow.rulesets import Override, rulebook
    h = build(HAPPY)
    book = rulebook([Override(d("2020-01-01"), "notice_working_days", 7)])
    r = replay(h.records, TODAY, documents=h.documents, roster=ROSTER, rulebook=book)
    assert sorted(v.rule for v in r.violations) == ["notice_working_days"] * 2


def test_books_share_answers_only_when_their_overrides_are_equal():
    from workflow.rulesets import Override, rulebook
    day, other = d("2021-03-01"), d("2019-03-01")
    plain, seven = rulebook(), rulebook([Override(d("2020-01-01"), "notice_working_days", 7)])
    assert seven.on(day).settings["notice_working_days"] == 7
    assert plain.on(day).settings["notice_working_days"] == 5
    assert seven.on(other).settings["notice_working_days"] == 5  # before it took effect
    again = rulebook([Override(d("2020-01-01"), "notice_working_days", 7)])
    assert again.on(day) is seven.on(day)  # one memo for equal books
    odd = rulebook([Override(d("2020-01-01"), "notice_working_days", [7])])  # unhashable value
    assert odd.on(day).settings["notice_working_days"] == [7]


def test_registry_entries_are_complete():
    for rule in REGISTRY.values():
        assert rule.zh and rule.en and rule.article
        assert rule.cls in (RuleClass.INVALID, RuleClass.VIOLATION)
