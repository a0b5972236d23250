"""Documents, the pre-review queue, trainings, alerts, rubric, XES and the OpenAPI description."""
from __future__ import annotations

import io
from xml.etree import ElementTree as ET

import pytest

from tests.integration.helpers import drive, open_case, post_step
from workflow.persistence.db import db
from workflow.persistence.models import Document

pytestmark = pytest.mark.db


def _record_id(world, case_id, step):
    steps = world.get("sec1", f"/api/v1/cases/{case_id}").json["steps"]
    return next(s["id"] for s in steps if s["step"] == step)


def test_documents_on_file_and_uploaded(world):
    case = open_case(world)
    rid = _record_id(world, case["id"], "application_submitted")
    url = f"/api/v1/cases/{case['id']}/documents"
    r = world.post("sec1", url, {"doc_type": "application_letter", "step_record_id": rid,
                                 "on_file": True, "reference": "档案柜 A-3"})
    assert r.status_code == 201 and r.json["on_file"] is True
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert got["steps"][0]["missing_documents"] == []
    r = world.client.post(url, headers=world.headers("sec1"), content_type="multipart/form-data",
                          data={"file": (io.BytesIO(b"%PDF-1.4 letter"), "letter.pdf"),
                                "doc_type": "application_letter", "step_record_id": str(rid)})
    assert r.status_code == 201, r.json
    assert r.json["filename"] == "letter.pdf" and r.json["size"] == 15


@pytest.mark.parametrize("body,code", [
    ({"doc_type": "interview_record", "on_file": True, "reference": "x"}, 422),  # wrong type
    ({"doc_type": "application_letter", "on_file": True, "reference": ""}, 422),
    ({"doc_type": "application_letter", "on_file": True, "reference": "x", "step_record_id": 999}, 422),
])
def test_document_errors_write_nothing(world, body, code):
    case = open_case(world)
    body = {"step_record_id": _record_id(world, case["id"], "application_submitted"), **body}
    r = world.post("sec1", f"/api/v1/cases/{case['id']}/documents", body)
    assert r.status_code == code and r.json["error"]["code"] == "invalid"
    assert db.session.execute(db.select(db.func.count()).select_from(Document)).scalar() == 0


def test_upload_too_large_and_wrong_type(world):
    case = open_case(world)
    rid = _record_id(world, case["id"], "application_submitted")
    url = f"/api/v1/cases/{case['id']}/documents"
    big = world.client.post(url, headers=world.headers("sec1"), content_type="multipart/form-data",
                            data={"file": (io.BytesIO(b"x" * 300_000), "big.pdf"),
                                  "doc_type": "application_letter", "step_record_id": str(rid)})
    assert big.status_code == 413 and big.json["error"]["code"] == "too_large"
    exe = world.client.post(url, headers=world.headers("sec1"), content_type="multipart/form-data",
                            data={"file": (io.BytesIO(b"MZ"), "x.exe"),
                                  "doc_type": "application_letter", "step_record_id": str(rid)})
    assert exe.status_code == 422
    assert world.client.post(url, headers=world.headers("aud"), content_type="multipart/form-data",
                             data={"file": (io.BytesIO(b"a"), "a.pdf"), "doc_type": "application_letter",
                                   "step_record_id": str(rid)}).status_code == 403


def test_pre_review_queue_and_sign_off(world):
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    pending = world.get("org", "/api/v1/pre-reviews").json["items"]
    assert [c["id"] for c in pending] == [case["id"]]
    assert world.get("org", "/api/v1/pre-reviews?status=decided").json["items"] == []
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-27",
                  {"decision": "returned", "comments": "政审材料不全"})
    assert r.json["case"]["state"] == "candidate.preparing"
    assert world.get("org", "/api/v1/pre-reviews").json["items"] == []
    assert [c["id"] for c in world.get("org", "/api/v1/pre-reviews?status=decided").json["items"]] == [case["id"]]
    assert world.get("org2", "/api/v1/pre-reviews").json["items"] == []
    assert world.get("org", "/api/v1/pre-reviews?status=bogus").status_code == 400


def test_training_and_attendance(world):
    case = open_case(world)
    drive(world, case["id"], until="activist_assessed")
    body = {"title": "2023 年入党积极分子培训班", "start_on": "2023-10-09", "end_on": "2023-10-11",
            "hours": 24, "invitees": [case["id"]]}
    assert world.post("sec1", "/api/v1/trainings", body).status_code == 403
    r = world.post("org", "/api/v1/trainings", body)
    assert r.status_code == 201, r.json
    tid = r.json["id"]
    r = world.post("org", f"/api/v1/trainings/{tid}/attendance", {"case_id": case["id"], "attended": False})
    assert r.status_code == 201, r.json
    assert r.json["step"]["step"] == "training_attended"
    rubric = world.get("org", "/api/v1/rubric?org=B1&year=2023&as_of=2023-12-31").json
    assert rubric["items"]["14"]["score"] == 2
    assert rubric["items"]["14"]["deductions"][0]["case_id"] == case["id"]
    bad = world.post("org", f"/api/v1/trainings/{tid}/attendance", {"case_id": 999, "attended": True})
    assert bad.status_code == 422


def test_course_numbers_are_text_and_attendance_changes_by_correction(world):
    case = open_case(world)
    drive(world, case["id"], until="activist_assessed")
    body = {"title": "积极分子培训班", "number": "2023-第3期", "start_on": "2023-10-09",
            "end_on": "2023-10-11", "hours": 24, "invitees": [case["id"]]}
    r = world.post("org", "/api/v1/trainings", body)
    assert r.status_code == 201, r.json
    assert r.json["number"] == "2023-第3期"
    long = world.post("org", "/api/v1/trainings", {**body, "number": "期" * 51})
    assert long.status_code == 422 and "number" in long.json["error"]["fields"]
    tid, cid = r.json["id"], case["id"]
    url = f"/api/v1/trainings/{tid}/attendance"
    # nothing to change yet
    none = world.post("org", url + "/corrections", {"case_id": cid, "attended": True,
                                                    "reason": "补记"})
    assert none.status_code == 422, none.json
    assert world.post("org", url, {"case_id": cid, "attended": False}).status_code == 201
    # a second record would be an edit without a reason: refused, pointing to the correction
    again = world.post("org", url, {"case_id": cid, "attended": True})
    assert again.status_code == 409, again.json
    no_reason = world.post("org", url + "/corrections", {"case_id": cid, "attended": True})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["error"]["fields"]
    blank = world.post("org", url + "/corrections", {"case_id": cid, "attended": True,
                                                     "reason": "  "})
    assert blank.status_code == 422 and "reason" in blank.json["error"]["fields"]
    same = world.post("org", url + "/corrections", {"case_id": cid, "attended": False,
                                                    "reason": "再次确认"})
    assert same.status_code == 422 and "attended" in same.json["error"]["fields"]
    assert world.post("sec1", url + "/corrections", {"case_id": cid, "attended": True,
                                                     "reason": "签到表漏登"}).status_code == 403
    ok = world.post("org", url + "/corrections", {"case_id": cid, "attended": True,
                                                  "reason": "签到表漏登，已核对"})
    assert ok.status_code == 201, ok.json
    assert ok.json["name"] == case["person"]["name"]
    rubric = world.get("org", "/api/v1/rubric?org=B1&year=2023&as_of=2023-12-31").json
    assert rubric["items"]["14"]["score"] == 3  # attended now: no deduction
    history = world.get("org", f"/api/v1/cases/{cid}").json
    steps = [s for s in history["steps"] if s["step"] in ("training_attended", "step_corrected")]
    assert [s["step"] for s in steps] == ["training_attended", "step_corrected"]
    first, fix = steps
    assert fix["data"]["corrects"] == first["id"]
    assert fix["data"]["reason"] == "签到表漏登，已核对"
    assert fix["data"]["fields"] == {"attended": True, "hours": 24.0}


def test_rubric_endpoint_counts_branch_misses(world):
    case = open_case(world)
    post_step(world, case["id"], "applicant_interviewed", "2023-04-05", {"interviewer": "张伟"},
              acknowledge=True, reason="补录")
    r = world.get("sec1", "/api/v1/rubric?org=B1&year=2023&as_of=2023-12-31").json
    kinds = sorted((d["kind"], d["rule"], d["points"]) for d in r["items"]["13"]["deductions"])
    assert kinds == [("paperwork", "documents_complete", 1), ("paperwork", "documents_complete", 1),
                     ("procedure", "interview_within_one_month", 2)]
    assert r["items"]["13"]["score"] == 1 and r["items"]["14"]["score"] == 3
    assert world.get("sec2", "/api/v1/rubric?org=B1&year=2023").status_code == 404
    assert world.get("org", "/api/v1/rubric?org=C&year=2023").status_code == 422
    assert world.get("org", "/api/v1/rubric?org=B1&year=abc").status_code == 400


def test_alerts_in_scope(world):
    case = open_case(world, date="2023-03-01")
    r = world.get("sec1", "/api/v1/alerts?as_of=2023-03-25").json["items"]
    assert r == [{"case_id": case["id"], "rule": "interview_within_one_month", "kind": "interview_due",
                  "due_on": "2023-04-01", "level": "before_7", "responsible": "branch", "org": "B1"}]
    assert world.get("sec2", "/api/v1/alerts?as_of=2023-03-25").json["items"] == []
    assert world.get("org", "/api/v1/alerts?as_of=2023-04-09").json["items"][0]["level"] == "overdue_1"


def test_events_xes(world):
    case = open_case(world)
    drive(world, case["id"], until="activist_designated")
    r = world.get("org", "/api/v1/export/events.xes")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    root = ET.fromstring(r.data)
    traces = root.findall("trace")
    assert len(traces) == 1
    names = [e.find("string[@key='concept:name']").get("value") for e in traces[0].findall("event")]
    assert names == ["application_submitted", "applicant_interviewed", "activist_designated"]
    assert world.get("sec2", "/api/v1/export/events.xes").status_code == 200
    assert ET.fromstring(world.get("sec2", "/api/v1/export/events.xes").data).findall("trace") == []


def test_openapi_describes_every_route(ctx, client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, item in doc["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    actual = set()
    for rule in ctx.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        path = path.replace("{case_id}", "{id}").replace("{training_id}", "{id}")
        path = path.replace("{plan_id}", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            actual.add((path, method.lower()))
    assert actual == documented


def test_nul_in_a_json_body_is_a_bad_request_and_changes_nothing(world):
    """PostgreSQL text cannot hold NUL (the fuzz test found a training title with one): any
    string of a JSON body, at any depth, key or value, is refused before anything is read."""
    from workflow.persistence.models import StepRecordRow, Training
    case = open_case(world)
    before = (db.session.query(Training).count(), db.session.query(StepRecordRow).count())
    for who, path, body in [
            ("org", "/api/v1/trainings", {"title": "培训\x00班", "start_on": "2023-10-09",
                                          "end_on": "2023-10-11", "hours": 24}),
            ("sec1", f"/api/v1/cases/{case['id']}/steps",
             {"step": "applicant_interviewed", "occurred_on": "2023-03-15",
              "data": {"interviewer": ["张伟", {"备\x00注": "x"}]}})]:
        r = world.post(who, path, body)
        assert r.status_code == 400, r.json
        assert r.json["error"]["code"] == "bad_request" and "NUL" in r.json["error"]["message"]
    db.session.expire_all()
    assert (db.session.query(Training).count(),
            db.session.query(StepRecordRow).count()) == before
