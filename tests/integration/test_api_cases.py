"""The JSON API's case endpoints: every answer and error code, and that errors write nothing."""
from __future__ import annotations

import pytest

from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import PERSON, vote
from workflow.persistence.db import db
from workflow.persistence.models import Case, StepRecordRow

pytestmark = pytest.mark.db


def _count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_health_needs_no_token(client):
    assert client.get("/api/v1/health").json == {"status": "ok"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_unauthenticated(world, header):
    headers = {"Authorization": header} if header else {}
    r = world.client.get("/api/v1/cases", headers=headers)
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthenticated"


def test_open_case_masks_the_id_number(world):
    person = {**PERSON, "birth_date": "1949-12-31", "id_number": "11010519491231002X"}
    case = open_case(world, person=person)
    assert case["stage"] == "applicant" and case["state"] == "applicant.applied"
    assert case["person"]["id_number_masked"] == "1101**********002X"
    assert "id_number" not in case["person"]
    assert "11010519491231002X" not in str(world.get("sec1", f"/api/v1/cases/{case['id']}").json)
    stored = db.session.execute(db.select(StepRecordRow)).scalar_one()
    assert "11010519491231002X" not in str(stored.data)


@pytest.mark.parametrize("body,field", [
    ({"branch": "B1", "person": PERSON, "application_date": "2999-01-01"}, "application_date"),
    ({"branch": "B1", "person": {**PERSON, "birth_date": "2010-01-01"},
      "application_date": "2023-03-01"}, None),
    ({"branch": "B1", "person": {**PERSON, "id_number": "110105194912310021"},
      "application_date": "2023-03-01"}, "person.id_number"),
    ({"branch": "B1", "person": {"name": "无性别"}, "application_date": "2023-03-01"},
     "person.gender"),
    ({"branch": "B1", "person": PERSON, "application_date": "2023-02-30"}, "application_date"),
])
def test_open_case_invalid_writes_nothing(world, body, field):
    r = world.post("sec1", "/api/v1/cases", body)
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "invalid"
    if field:
        assert field in r.json["error"]["fields"]
    assert _count(Case) == 0 and _count(StepRecordRow) == 0


def test_bad_json_is_400(world):
    r = world.client.post("/api/v1/cases", headers=world.headers("sec1"), data="not json",
                          content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["code"] == "bad_request"
    r = world.post("sec1", "/api/v1/cases/1/steps", ["a list"])
    assert r.status_code == 400


def test_record_steps_and_read_the_case(world):
    case = open_case(world)
    r = post_step(world, case["id"], "applicant_interviewed", "2023-03-15", {"interviewer": "张伟"})
    assert r.status_code == 201, r.json
    assert r.json["violations"] == []
    assert r.json["case"]["state"] == "applicant.interviewed"
    assert r.json["case"]["version"] == 2
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert [s["step"] for s in got["steps"]] == ["application_submitted", "applicant_interviewed"]
    assert "activist_designated" in got["next_steps"]
    assert got["steps"][1]["missing_documents"] == ["interview_record"]


def test_future_date_changes_nothing(world):
    case = open_case(world)
    r = post_step(world, case["id"], "applicant_interviewed", "2099-03-15", {"interviewer": "张伟"})
    assert r.status_code == 422
    assert r.json["error"]["fields"] == {"occurred_on": "日期不能晚于今天"}
    assert _count(StepRecordRow) == 1
    assert db.session.get(Case, case["id"]).version == case["version"]


def test_invalid_vote_changes_nothing(world):
    case = open_case(world)
    drive(world, case["id"], until="application_form_completed")
    before = _count(StepRecordRow)
    r = post_step(world, case["id"], "admission_voted", "2024-06-12",
                  {"vote": vote(eligible=10, present=11, yes=11)})
    assert r.status_code == 422
    assert "vote" in r.json["error"]["fields"]
    assert _count(StepRecordRow) == before


def test_step_out_of_order_is_invalid(world):
    case = open_case(world)
    r = post_step(world, case["id"], "candidate_designated", "2023-04-01",
                  {"opinions_heard": True, "committee_meeting_on": "2023-03-30"})
    assert r.status_code == 422
    assert r.json["error"]["rule"] == "step_not_allowed"


def test_violation_needs_acknowledgement_with_reason(world):
    case = open_case(world)
    late = {"step": "applicant_interviewed", "occurred_on": "2023-04-05",
            "data": {"interviewer": "张伟"}}
    url = f"/api/v1/cases/{case['id']}/steps"
    r = world.post("sec1", url, late)
    assert r.status_code == 409
    err = r.json["error"]
    assert err["code"] == "procedure_violation"
    assert err["violations"][0]["rule"] == "interview_within_one_month"
    assert {"rule", "message", "article", "responsible"} <= set(err["violations"][0])
    assert world.post("sec1", url, {**late, "acknowledge": True}).status_code == 409
    assert world.post("sec1", url, {**late, "acknowledge": True, "reason": "  "}).status_code == 409
    assert _count(StepRecordRow) == 1
    r = world.post("sec1", url, {**late, "acknowledge": True, "reason": "申请人外出学习"})
    assert r.status_code == 201
    assert [v["rule"] for v in r.json["violations"]] == ["interview_within_one_month"]
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert got["steps"][1]["violations"][0]["rule"] == "interview_within_one_month"
    assert got["steps"][1]["acknowledged_reason"] == "申请人外出学习"


def test_stale_version_is_a_conflict(world):
    case = open_case(world)
    body = {"step": "applicant_interviewed", "occurred_on": "2023-03-15",
            "data": {"interviewer": "张伟"}, "version": case["version"]}
    url = f"/api/v1/cases/{case['id']}/steps"
    assert world.post("sec1", url, body).status_code == 201
    body2 = {"step": "activist_designated", "occurred_on": "2023-04-10", "version": case["version"],
             "data": {"method": "member_recommendation", "committee_meeting_on": "2023-04-08"}}
    r = world.post("sec1", url, body2)
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict"
    assert _count(StepRecordRow) == 2


def test_list_filters_and_pages(world):
    for name in ("甲", "乙", "丙"):
        open_case(world, person={**PERSON, "name": f"测试{name}"})
    open_case(world, who="sec2", branch="B2")
    r = world.get("sec1", "/api/v1/cases?per_page=2")
    assert r.json["total"] == 3 and len(r.json["items"]) == 2 and r.json["page"] == 1
    assert world.get("sec1", "/api/v1/cases?q=乙").json["total"] == 1
    assert world.get("org", "/api/v1/cases").json["total"] == 4
    assert world.get("org", "/api/v1/cases?branch=B2").json["total"] == 1
    assert world.get("org", "/api/v1/cases?stage=activist").json["total"] == 0
    assert world.get("sec1", "/api/v1/cases?per_page=0").status_code == 400
    assert world.get("sec1", "/api/v1/cases?page=x").status_code == 400


def test_as_of_shows_deadlines_of_that_day(world):
    case = open_case(world)
    url = f"/api/v1/cases/{case['id']}"
    early = world.get("sec1", url + "?as_of=2023-03-10").json["deadlines"]
    assert [(d["kind"], d["due_on"], d["status"]) for d in early] == \
        [("interview_due", "2023-04-01", "due")]
    late = world.get("sec1", url + "?as_of=2023-04-02").json
    assert late["deadlines"][0]["status"] == "overdue"
    assert late["violations"][0]["rule"] == "interview_within_one_month"
    assert world.get("sec1", url + "?as_of=yesterday").status_code == 400


def test_correction_keeps_the_original_and_clears_the_violation(world):
    case = open_case(world)
    r = post_step(world, case["id"], "applicant_interviewed", "2023-04-05", {"interviewer": "张伟"},
                  acknowledge=True, reason="补录")
    record_id = r.json["step"]["id"]
    r = post_step(world, case["id"], "step_corrected", "2023-05-01",
                  {"corrects": record_id, "fields": {"occurred_on": "2023-03-20"},
                   "reason": "日期录入错误"})
    assert r.status_code == 201, r.json
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    interview = got["steps"][1]
    assert interview["corrected"] and interview["occurred_on"] == "2023-03-20"
    assert interview["violations"] == []
    assert len(got["steps"]) == 3
    bad = post_step(world, case["id"], "step_corrected", "2023-05-01",
                    {"corrects": 999, "fields": {"occurred_on": "2023-03-20"}, "reason": "x"})
    assert bad.status_code == 422


def test_transfer_moves_the_case_to_the_other_branch(world):
    case = open_case(world)
    r = post_step(world, case["id"], "case_transferred", "2023-03-10", {"to_branch": "B2"})
    assert r.status_code == 201, r.json
    assert r.json["case"]["branch"] == "B2"  # the answer, built before the commit, shows it
    from workflow.persistence.db import db
    from workflow.persistence.models import DeadlineRow, Organisation
    b2 = db.session.execute(db.select(Organisation.id).filter_by(code="B2")).scalar_one()
    owners = db.session.execute(db.select(DeadlineRow.org_id, DeadlineRow.responsible)
                                .filter_by(case_id=case["id"])).all()
    assert owners and {o for o, who in owners if who == "branch"} == {b2}
    assert world.get("sec1", f"/api/v1/cases/{case['id']}").status_code == 404
    assert world.get("sec2", f"/api/v1/cases/{case['id']}").json["branch"] == "B2"
    bad = post_step(world, case["id"], "case_transferred", "2023-03-11", {"to_branch": "B3"})
    assert bad.status_code == 404


def test_close_case(world):
    case = open_case(world)
    r = post_step(world, case["id"], "case_closed", "2023-03-10", {"reason": "withdrawn"})
    assert r.status_code == 201
    assert r.json["case"]["stage"] == "closed" and r.json["case"]["next_steps"] == []
