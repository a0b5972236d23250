"""Yearly development plans (workflow/plans.py): over plan, adjustments, no plan, the 1990 set,
item 13 with plan deductions, the planner's outlook and the structure counts."""
from __future__ import annotations

from datetime import date

from workflow import plans
from workflow.plans import Admission, Plan, PlanVersion, Profile, Prospect
from workflow.replay import replay
from workflow.rubric import score
from workflow.rulesets import DEFAULT_RULEBOOK
from tests.unit.builders import HAPPY, ROSTER, build, d, edit, until, vote


def _plan(quota: int, *adjusted: tuple[str, int], org: str = "B1", year: int = 2024) -> Plan:
    versions = [PlanVersion(1, quota, {}, d(f"{year}-01-05"))]
    for i, (on, q) in enumerate(adjusted, start=2):
        versions.append(PlanVersion(i, q, {}, d(on), "追加"))
    return Plan(org, year, tuple(versions))


def _votes(*days: str, org: str = "B1") -> list[Admission]:
    return [Admission(i, 100 + i, d(day), org) for i, day in enumerate(days, start=1)]


def _required(day: date) -> bool:
    return DEFAULT_RULEBOOK.on(day).enabled(plans.RULE)


def test_votes_within_the_quota_are_fine_and_the_next_one_is_over():
    votes = _votes("2024-03-01", "2024-05-01", "2024-06-01")
    assert plans.over_plan(_plan(3), votes) == []
    over = plans.over_plan(_plan(2), votes)
    assert [(v.rule, v.step_seq, v.on) for v in over] == [(plans.RULE, 103, d("2024-06-01"))]
    assert "计划发展 2 名" in over[0].detail and "已有 2 名" in over[0].detail


def test_a_zero_quota_makes_every_vote_over_plan():
    assert len(plans.over_plan(_plan(0), _votes("2024-03-01", "2024-04-01"))) == 2


def test_one_meeting_voting_several_candidates_is_ordered_by_recording():
    votes = [Admission(7, 202, d("2024-06-01"), "B1"), Admission(8, 201, d("2024-06-01"), "B1")]
    over = plans.over_plan(_plan(1), votes)
    assert [v.step_seq for v in over] == [202]


def test_other_branches_and_years_do_not_count():
    votes = _votes("2023-12-30", "2024-03-01") + _votes("2024-04-01", org="B2")
    assert plans.over_plan(_plan(1), votes) == []


def test_an_adjustment_applies_from_its_day_on_not_before():
    votes = _votes("2024-03-01", "2024-05-01", "2024-09-01")
    plan = _plan(1, ("2024-07-01", 3))  # raised mid-year
    over = plans.over_plan(plan, votes)
    assert [v.on for v in over] == [d("2024-05-01")]  # judged by the quota of its day
    assert plan.in_force(d("2024-01-01")).quota == 1  # the first version covers the whole year
    assert plan.current.version == 2 and plan.current.reason == "追加"


def test_a_cut_mid_year_makes_later_votes_over_plan():
    votes = _votes("2024-03-01", "2024-05-01", "2024-09-01")
    assert [v.on for v in plans.over_plan(_plan(3, ("2024-06-01", 2)), votes)] == [
        d("2024-09-01")]


def test_the_proposed_vote_gets_a_verdict():
    done = _votes("2024-03-01")
    proposed = Admission(9, 999, d("2024-04-01"), "B1")
    assert plans.verdict(_plan(2), done, proposed) is None
    v = plans.verdict(_plan(1), done, proposed)
    assert v is not None and v.step_seq == 999
    assert plans.verdict(_plan(1), done, proposed, required=False) is None
    assert plans.verdict(None, done, proposed) is None


def test_the_1990_set_asks_for_no_plan():
    assert _required(d("2024-06-01")) and not _required(d("2010-06-01"))
    votes = _votes("2010-03-01", "2010-05-01")
    assert plans.deductions("B1", 2010, None, votes, _required) == []
    assert plans.deductions("B1", 2010, _plan(0, year=2010), votes, _required) == []


def test_no_plan_costs_two_points_once_a_year():
    found = plans.deductions("B1", 2024, None, _votes("2024-03-01", "2024-05-01"), _required)
    assert [(x.kind, x.case_id, x.rule, x.step_record_id, x.points) for x in found] == [
        ("no_plan", 1, plans.RULE, 101, 2)]
    assert plans.deductions("B1", 2024, None, [], _required) == []  # no vote, nothing owed


def test_item_13_with_no_plan_and_with_an_over_plan_vote():
    r = replay(build(HAPPY).records, d("2025-12-31"), roster=ROSTER,
               documents=build(HAPPY).documents)
    admissions = plans.admissions_of(1, r)
    assert [(a.on, a.org) for a in admissions] == [(d("2024-06-12"), r.org)]
    org = r.org
    clean = score(org, 2024, d("2025-03-01"), {1: r})
    assert clean.items["13"].score == 5
    without = score(org, 2024, d("2025-03-01"), {1: r},
                    plan=plans.deductions(org, 2024, None, admissions, _required))
    assert without.items["13"].score == 3
    assert [x.kind for x in without.items["13"].deductions] == ["no_plan"]
    over = score(org, 2024, d("2025-03-01"), {1: r},
                 plan=plans.deductions(org, 2024, _plan(0, org=org), admissions, _required))
    assert over.items["13"].score == 3
    (x,) = over.items["13"].deductions
    assert (x.kind, x.rule, x.step_record_id) == ("procedure", plans.RULE, admissions[0].step_seq)
    within = plans.deductions(org, 2024, _plan(1, org=org), admissions, _required)
    assert within == []


def test_a_failed_vote_is_not_an_admission():
    failed = until(edit(HAPPY, "admission_voted", vote=vote(yes=3, no=6)), "admission_voted")
    r = replay(build(failed).records, d("2024-12-31"), roster=ROSTER)
    assert plans.admissions_of(1, r) == []


def test_the_planner_warns_when_the_pipeline_cannot_fill_the_plan():
    plan = _plan(3)
    today = d("2024-10-08")
    pipeline = [
        Prospect(1, "candidate", earliest_vote=d("2024-10-20")),
        Prospect(2, "candidate"),  # notice not held yet: 5 working days from tomorrow
        Prospect(3, "activist", earliest_candidacy=d("2024-12-30")),  # too late this year
    ]
    o = plans.outlook(plan, 1, pipeline, today, notice_days=5)
    assert o.gap == 2 and o.reachable == (1, 2) and o.later == (3,)
    assert not o.cannot_fill
    o = plans.outlook(_plan(4), 1, pipeline, today, notice_days=5)
    assert o.gap == 3 and o.cannot_fill


def test_the_earliest_vote_counts_working_days_of_the_official_calendar():
    # 2024-09-30 (Mon): the notice runs from 10-01; 10-01..07 are National Day holidays, and
    # 10-12 (Sat) is an adjusted working day: 5 working days end on 10-12, the vote on 10-13
    p = Prospect(1, "candidate")
    assert plans.earliest_vote(p, d("2024-09-30"), 5) == d("2024-10-13")


def test_an_activist_waits_for_the_year_then_the_notice():
    p = Prospect(1, "activist", earliest_candidacy=d("2024-12-20"))  # a Friday
    # notice from 12-21 (Sat): 23, 24, 25, 26, 27 are the five working days
    assert plans.earliest_vote(p, d("2024-06-01"), 5) == d("2024-12-28")


def test_structure_counts_and_targets():
    admitted = d("2024-07-01")
    people = [
        (Profile("female", d("1990-07-01"), "大学本科", "worker", "汉族"), admitted),  # 34
        (Profile("male", d("1989-06-30"), "高中", "farmer", "回族"), admitted),  # 35
        (Profile("female", d("1980-01-01"), "硕士研究生", "official", None), admitted),
        (Profile(None, None, None, None, None), admitted),
    ]
    assert plans.target_counts(people) == {"women": 2, "under_35": 2, "front_line": 2,
                                           "college": 2}
    s = plans.structure(people)
    assert s.total == 4
    assert s.gender == {"female": 2, "male": 1, "unknown": 1}
    assert s.age == {"35": 2, "45": 1, "unknown": 1}
    assert s.education == {"college": 2, "below_college": 1, "unknown": 1}
    assert s.occupation == {"worker": 1, "farmer": 1, "official": 1, "unknown": 1}
    assert s.ethnicity == {"han": 1, "minority": 1, "unknown": 2}


def test_plan_inputs_are_bounded():
    assert plans.check_quota(3) is None
    assert plans.check_quota(-1) and plans.check_quota(True) and plans.check_quota(1000)
    assert plans.check_targets({"women": 2}, 3) == {}
    assert set(plans.check_targets({"women": 4, "tall": 1, "college": "2"}, 3)) == {
        "targets.women", "targets.tall", "targets.college"}


def test_a_year_whose_only_vote_failed_still_needed_a_plan():
    """§8: a year in which the branch *holds* an admission vote without a plan costs −2,
    whether the vote passed or not; the quota counts only the passed ones."""
    failed = _votes("2024-05-01")
    found = plans.deductions("B1", 2024, None, [], _required, held=failed)
    assert [(x.kind, x.step_record_id) for x in found] == [("no_plan", 101)]
    assert plans.deductions("B1", 2024, None, [], _required, held=[]) == []
    assert plans.deductions("B1", 2024, _plan(0), [], _required, held=failed) == []
