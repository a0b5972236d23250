"""Yearly development plans through the API: setting, adjusting (versions kept), measures,
who may do what, the over-plan vote needing an acknowledgement, item 13's `no_plan`, and plan
against actual (issue 21)."""
from __future__ import annotations

import pytest

from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import HAPPY, PERSON

pytestmark = pytest.mark.db

VOTE_AT = next(i for i, e in enumerate(HAPPY) if e[0] == "admission_voted")


def _plan(world, quota=1, year=2024, org="B1", **extra):
    return world.post("org", "/api/v1/plans", {"org": org, "year": year, "quota": quota, **extra})


def _candidate(world, name: str, birth: str = "1995-05-01", **person) -> int:
    case = open_case(world, person={**PERSON, "name": name, "birth_date": birth, **person})
    drive(world, case["id"], HAPPY[:VOTE_AT])  # everything before the admission vote
    return case["id"]


def _planned(rubric) -> list[tuple]:
    """Item 13's deductions about the plan (the drive attaches no papers: those cost too)."""
    return [(d["kind"], d["rule"], d["case_id"], d["points"])
            for d in rubric["items"]["13"]["deductions"] if d["rule"] == "admission_within_plan"]


def _vote(world, case_id: int, **extra):
    step, on, data = HAPPY[VOTE_AT]
    return post_step(world, case_id, step, on, data, **extra)


def test_the_committee_sets_a_plan_and_adjusts_it_with_versions_kept(world):
    r = _plan(world, quota=3, targets={"women": 1, "under_35": 2})
    assert r.status_code == 201, r.json
    plan = r.json
    assert (plan["org"], plan["year"], plan["quota"], plan["version"]) == ("B1", 2024, 3, 1)
    assert plan["targets"] == {"women": 1, "under_35": 2}
    again = _plan(world, quota=5)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    url = f"/api/v1/plans/{plan['id']}/adjustments"
    assert world.post("org", url, {"quota": 4}).status_code == 422  # the reason is required
    assert world.post("org", url, {"quota": 4, "reason": "  "}).status_code == 422
    r = world.post("org", url, {"quota": 4, "reason": "上级追加名额", "version": 1})
    assert r.status_code == 201, r.json
    assert (r.json["quota"], r.json["version"]) == (4, 2)
    assert [(v["version"], v["quota"], v["reason"]) for v in r.json["versions"]] == [
        (1, 3, ""), (2, 4, "上级追加名额")]
    stale = world.post("org", url, {"quota": 2, "reason": "按旧版本调整", "version": 1})
    assert stale.status_code == 409  # someone adjusted it meanwhile
    listed = world.get("sec1", "/api/v1/plans?year=2024").json
    (row,) = listed["rows"]
    assert row["plan"]["version"] == 2 and len(row["plan"]["versions"]) == 2


@pytest.mark.parametrize("body, field", [
    ({"org": "B1", "year": 2024, "quota": -1}, "quota"),
    ({"org": "B1", "year": 2024, "quota": 1000}, "quota"),
    ({"org": "B1", "year": 1989, "quota": 1}, "year"),
    ({"org": "B1", "year": "2024", "quota": 1}, "year"),
    ({"org": "C", "year": 2024, "quota": 1}, "org"),
    ({"org": "B1", "year": 2024, "quota": 1, "targets": {"women": 2}}, "targets.women"),
    ({"org": "B1", "year": 2024, "quota": 1, "targets": {"tall": 1}}, "targets.tall"),
    ({"org": "B1", "year": 2024, "quota": 1, "targets": [1]}, "targets"),
])
def test_bad_plans_are_refused_naming_the_field_and_change_nothing(world, body, field):
    r = world.post("org", "/api/v1/plans", body)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert world.get("org", "/api/v1/plans?year=2024").json["total"]["branches_without_plan"] == 2


def test_who_may_do_what(world):
    assert _plan(world).status_code == 201
    plan_id = world.get("org", "/api/v1/plans?org=B1&year=2024").json["rows"][0]["plan"]["id"]
    # only the committee sets and adjusts; outside the scope the plan does not exist
    assert world.post("sec1", "/api/v1/plans", {"org": "B1", "year": 2025,
                                                "quota": 1}).status_code == 403
    assert world.post("aud", f"/api/v1/plans/{plan_id}/adjustments",
                      {"quota": 2, "reason": "追加名额"}).status_code == 403
    assert world.post("org2", "/api/v1/plans", {"org": "B1", "year": 2025,
                                                "quota": 1}).status_code == 404
    assert world.get("org2", f"/api/v1/plans?org=B1").status_code == 404
    # only the plan's own branch records measures
    measure = {"text": "每季度召开一次积极分子座谈会", "owner": "组织委员 王芳",
               "due_on": "2024-03-31"}
    url = f"/api/v1/plans/{plan_id}/measures"
    assert world.post("sec2", url, measure).status_code == 404  # B2 cannot see B1's plan
    assert world.post("org", url, measure).status_code == 403
    assert world.post("aud", url, measure).status_code == 403
    r = world.post("sec1", url, measure)
    assert r.status_code == 201, r.json
    assert [(m["text"], m["owner"], m["due_on"]) for m in r.json["measures"]] == [
        (measure["text"], measure["owner"], measure["due_on"])]
    assert world.post("sec1", url, {"text": " ", "owner": "x"}).status_code == 422
    assert world.post("sec1", url, {**measure, "due_on": "2024-02-30"}).status_code == 422


def test_a_vote_over_the_plan_needs_an_acknowledgement_and_is_scored(world):
    assert _plan(world, quota=1).status_code == 201
    first, second = _candidate(world, "甲"), _candidate(world, "乙", "1996-05-01")
    assert _vote(world, first).status_code == 201  # within the plan
    refused = _vote(world, second)
    assert refused.status_code == 409, refused.json
    assert [v["rule"] for v in refused.json["error"]["violations"]] == ["admission_within_plan"]
    r = _vote(world, second, acknowledge=True, reason="党委同意追加，调整手续在办")
    assert r.status_code == 201, r.json
    case = world.get("sec1", f"/api/v1/cases/{second}").json
    over = [v for v in case["violations"] if v["rule"] == "admission_within_plan"]
    assert len(over) == 1 and "计划发展 1 名" in over[0]["detail"]
    voted = next(s for s in case["steps"] if s["step"] == "admission_voted")
    assert [v["rule"] for v in voted["violations"]] == ["admission_within_plan"]
    assert voted["acknowledged_reason"] == "党委同意追加，调整手续在办"
    assert "admission_within_plan" not in {
        v["rule"] for v in world.get("sec1", f"/api/v1/cases/{first}").json["violations"]}
    rubric = world.get("sec1", "/api/v1/rubric?org=B1&year=2024&as_of=2024-12-31").json
    assert _planned(rubric) == [("procedure", "admission_within_plan", second, 2)]
    table = world.get("org", "/api/v1/plans?year=2024").json
    b1 = next(r for r in table["rows"] if r["org"] == "B1")
    assert (b1["quota"], b1["votes_passed"], b1["gap"]) == (1, 2, 0)
    assert [o["case_id"] for o in b1["over_plan"]] == [second]


def test_a_year_of_admissions_without_a_plan_costs_two_points_once(world):
    for name, birth in (("甲", "1995-05-01"), ("乙", "1996-05-01")):
        assert _vote(world, _candidate(world, name, birth)).status_code == 201
    rubric = world.get("sec1", "/api/v1/rubric?org=B1&year=2024&as_of=2024-12-31").json
    assert [d[0] for d in _planned(rubric)] == ["no_plan"]  # once, for two votes
    # setting the plan afterwards (even late) removes the no-plan deduction
    assert _plan(world, quota=2).status_code == 201
    rubric = world.get("sec1", "/api/v1/rubric?org=B1&year=2024&as_of=2024-12-31").json
    assert _planned(rubric) == []
    b2 = world.get("org", "/api/v1/rubric?org=B2&year=2024").json
    assert b2["items"]["13"]["score"] == 5  # a branch without votes owes no plan


def test_plan_against_actual_counts_approvals_and_their_structure(world):
    assert _plan(world, quota=2, targets={"women": 1, "college": 1}).status_code == 201
    case = open_case(world, person={**PERSON, "name": "丙", "education": "大学本科"})
    drive(world, case["id"], HAPPY, until="admission_approved")
    row = world.get("org", "/api/v1/plans?org=B1&year=2024").json["rows"][0]
    assert (row["votes_passed"], row["admitted"]) == (1, 1)
    assert row["targets_actual"] == {"women": 1, "under_35": 1, "front_line": 0, "college": 1}
    assert row["outlook"] is None  # a past year: nothing left to plan


def _voted(world, org: str) -> int:
    return world.get("org", f"/api/v1/plans?org={org}&year=2024").json["rows"][0]["votes_passed"]


def test_a_corrected_vote_counts_as_corrected(world):
    case = _candidate(world, "甲")
    vote = _vote(world, case)
    assert vote.status_code == 201 and _voted(world, "B1") == 1
    failed = {**HAPPY[VOTE_AT][2]["vote"], "yes": 3, "no": 6}
    r = post_step(world, case, "step_corrected", "2024-06-20",
                  {"corrects": vote.json["step"]["id"], "fields": {"vote": failed},
                   "reason": "计票录入错误"})
    assert r.status_code == 201, r.json
    assert _voted(world, "B1") == 0


def test_a_vote_counts_for_the_branch_that_held_the_case_that_day(world):
    case = _candidate(world, "甲")
    moved = post_step(world, case, "case_transferred", "2024-06-01", {"to_branch": "B2"},
                      who="org")
    assert moved.status_code == 201, moved.json
    # B1's introducers are not on B2's roster: the vote is recorded with that acknowledged
    assert _vote(world, case, who="sec2", acknowledge=True,
                 reason="转入前已确定介绍人").status_code == 201
    assert (_voted(world, "B1"), _voted(world, "B2")) == (0, 1)


def test_a_failed_vote_without_a_plan_costs_no_plan(world):
    case = _candidate(world, "甲")
    step, on, data = HAPPY[VOTE_AT]
    failed = post_step(world, case, step, on, {"vote": {**data["vote"], "yes": 3, "no": 6}},
                       acknowledge=True, reason="表决未通过，如实记录")
    assert failed.status_code == 201, failed.json
    rubric = world.get("sec1", "/api/v1/rubric?org=B1&year=2024&as_of=2024-12-31").json
    assert [d[0] for d in _planned(rubric)] == ["no_plan"]
    row = world.get("org", "/api/v1/plans?org=B1&year=2024").json["rows"][0]
    assert (row["votes_passed"], row["no_plan"]) == (0, True)
