"""Committee decisions name the person: who decided, when, from which session; a shared account
or an API token must name the decider, who is then judged by the separation-of-duties rules."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.conftest import PASSWORD
from tests.integration.helpers import drive, open_case, post_step
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import ApiToken, StepRecordRow, User

pytestmark = pytest.mark.db

PRE_REVIEW = {"decision": "approved", "comments": "同意"}


def _rows(case_id: int) -> list[StepRecordRow]:
    db.session.expire_all()
    return list(db.session.execute(db.select(StepRecordRow).filter_by(case_id=case_id)
                                   .order_by(StepRecordRow.id)).scalars())


def _awaiting(world) -> int:
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    return int(case["id"])


def _token_id(username: str) -> int:
    return db.session.execute(db.select(ApiToken.id).join(User).where(User.username == username)
                              ).scalar_one()


def _cli(ctx, *args: str) -> str:
    r = ctx.test_cli_runner().invoke(args=list(args))
    assert r.exit_code == 0, r.output
    return r.output


# --- the API: a token never says who is behind it -------------------------------------------------

def test_api_token_without_decided_by_is_refused_and_writes_nothing(world):
    case_id = _awaiting(world)
    before = len(_rows(case_id))
    r = post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW, decided_by=None)
    assert r.status_code == 422, r.json
    error = r.json["error"]
    assert error["code"] == "invalid" and "decided_by" in error["fields"]
    assert "API 令牌" in error["message"]
    assert len(_rows(case_id)) == before
    assert world.get("org", f"/api/v1/cases/{case_id}").json["state"] == \
        "candidate.awaiting_pre_review"


def test_api_token_with_decided_by_records_the_member_and_the_token(ctx, world):
    case_id = _awaiting(world)
    r = post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW,
                  decided_by=world.roster["刘洋"])
    assert r.status_code == 201, r.json
    step = r.json["step"]
    assert step["decided_by"] == {"id": world.roster["刘洋"], "name": "刘洋", "org": "C"}
    assert step["session_ref"] == f"api:token:{_token_id('org')}"
    assert step["recorded_by"] == "org" and step["recorded_at"]
    # the case page, read by another account, names the same recorder and decider
    shown = world.get("aud", f"/api/v1/cases/{case_id}").json["steps"][-1]
    assert (shown["recorded_by"], shown["decided_by"]) == ("org", step["decided_by"])
    row = _rows(case_id)[-1]
    assert (row.decided_by_member_id, row.session_ref) == (world.roster["刘洋"],
                                                            f"api:token:{_token_id('org')}")
    # the new fields are part of the record's hash: changing who decided breaks the chain
    got = world.get("org", f"/api/v1/cases/{case_id}").json
    assert got["history"]["verified"] is True
    assert "0 broken" in _cli(ctx, "verify")
    db.session.execute(text("UPDATE step_records SET decided_by_member_id = :m WHERE id = :i"),
                       {"m": world.roster["李强"], "i": row.id})
    db.session.commit()
    got = world.get("org", f"/api/v1/cases/{case_id}").json["history"]
    assert got["verified"] is False and got["record_id"] == row.id


def test_other_steps_take_no_decider_and_keep_their_hash_content(world):
    from workflow.services.cases import history_chain
    case = open_case(world)
    r = post_step(world, case["id"], "applicant_interviewed", "2023-03-15",
                  {"interviewer": "张伟"}, decided_by=world.roster["李强"])
    assert r.status_code == 422 and "decided_by" in r.json["error"]["fields"]
    r = post_step(world, case["id"], "applicant_interviewed", "2023-03-15", {"interviewer": "张伟"})
    assert r.status_code == 201
    assert r.json["step"]["decided_by"] is None and r.json["step"]["session_ref"] is None
    # a record without a decider hashes the same fields as before the columns existed
    payload = history_chain.payload("step", _rows(case["id"])[-1])
    assert "decided_by_member_id" not in payload and "session_ref" not in payload


def test_the_named_person_is_judged_by_separation_of_duties(ctx, world):
    case_id = _awaiting(world)
    before = len(_rows(case_id))
    # 张伟 is one of the case's introducers (and cultivators): he cannot sign its pre-review
    r = post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW,
                  decided_by=world.roster["张伟"])
    assert r.status_code == 422 and r.json["error"]["rule"] == "independent_review", r.json
    assert "决定人" in r.json["error"]["message"]
    assert len(_rows(case_id)) == before


def test_the_decider_cannot_be_who_submitted_the_review(ctx, world):
    case = open_case(world)
    drive(world, case["id"], until="candidate_trained")
    _cli(ctx, "users", "link", "--username", "sec1", "--member", str(world.roster["李强"]))
    r = post_step(world, case["id"], "branch_committee_reviewed", "2024-05-20", {"result": "pass"})
    assert r.status_code == 201, r.json
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-27", PRE_REVIEW,
                  decided_by=world.roster["李强"])
    assert r.status_code == 422 and r.json["error"]["rule"] == "independent_prereview", r.json
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-27", PRE_REVIEW)
    assert r.status_code == 201, r.json


@pytest.mark.parametrize("name,reason", [("周红", "不是本党委"), ("赵敏", "正式党员")])
def test_a_decider_from_another_committee_or_on_probation_is_refused(world, name, reason):
    case_id = _awaiting(world)
    before = len(_rows(case_id))
    r = post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW,
                  decided_by=world.roster[name])
    assert r.status_code == 422 and "decided_by" in r.json["error"]["fields"], r.json
    assert reason in r.json["error"]["message"] + r.json["error"]["fields"]["decided_by"]
    for bogus in (0, "刘洋", 2**40, True):
        r = post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW,
                      decided_by=bogus)
        assert r.status_code == 422 and "decided_by" in r.json["error"]["fields"], (bogus, r.json)
    assert len(_rows(case_id)) == before


def test_approvals_and_corrections_of_decisions_need_the_name_too(world):
    case = open_case(world)
    drive(world, case["id"], until="committee_interviewed")
    body = {"decision": "approved"}
    r = post_step(world, case["id"], "admission_approved", "2024-07-10", body, decided_by=None)
    assert r.status_code == 422 and "decided_by" in r.json["error"]["fields"]
    r = post_step(world, case["id"], "admission_approved", "2024-07-10", body)
    assert r.status_code == 201 and r.json["step"]["decided_by"]["name"] == "刘洋"
    approval = r.json["step"]["id"]
    fix = {"corrects": approval, "fields": {"extension_reason": "补正"}, "reason": "补录延期原因"}
    r = post_step(world, case["id"], "step_corrected", "2024-07-11", fix, who="org")
    assert r.status_code == 422 and "decided_by" in r.json["error"]["fields"]
    r = post_step(world, case["id"], "step_corrected", "2024-07-11", fix, who="org",
                  decided_by=world.roster["刘洋"])
    assert r.status_code == 201, r.json
    assert r.json["step"]["session_ref"].startswith("api:token:")


# --- the pages: a shared office account, a personal linked account --------------------------------

def test_shared_web_account_must_name_the_decider(ctx, world):
    out = _cli(ctx, "users", "create", "--username", "office", "--password", PASSWORD,
               "--role", "committee_organizer", "--org", "C", "--shared")
    assert "[shared]" in out
    case_id = _awaiting(world)
    before = len(_rows(case_id))
    login(world.client, "office")
    page = world.client.get("/committee/").text
    assert 'name="decided_by"' in page and "刘洋 · 测试党委" in page
    assert "周红" not in page and "赵敏" not in page  # other committee; probationary
    form = {"csrf_token": _csrf(page), "case_id": str(case_id), "decision": "approved",
            "occurred_on": "2024-05-27", "comments": "同意"}
    r = world.client.post("/committee/pre-reviews", data=form, follow_redirects=True)
    assert "请选择决定人" in r.text
    assert len(_rows(case_id)) == before
    # the step form says the same, next to the picker
    url = f"/cases/{case_id}/steps/pre_review_decided"
    page = world.client.get(url).text
    assert 'id="decided_by"' in page
    r = world.client.post(url, data={"csrf_token": _csrf(page), "occurred_on": "2024-05-27",
                                     "data_decision": "approved", "data_comments": "同意"})
    assert r.status_code == 200 and "多人共用账号" in r.text and "必须注明作出决定的人" in r.text
    assert len(_rows(case_id)) == before
    # naming 张伟, an introducer, is refused as it would be for him in person
    r = world.client.post("/committee/pre-reviews", data={**form, "decided_by": world.roster["张伟"]},
                          follow_redirects=True)
    assert "决定人是该发展对象的培养联系人或入党介绍人" in r.text
    assert len(_rows(case_id)) == before
    r = world.client.post("/committee/pre-reviews", data={**form, "decided_by": world.roster["刘洋"]},
                          follow_redirects=True)
    assert "已完成 1 件预审" in r.text
    row = _rows(case_id)[-1]
    assert row.step == "pre_review_decided" and row.decided_by_member_id == world.roster["刘洋"]
    assert row.session_ref.startswith("web:") and len(row.session_ref) > len("web:")
    assert row.recorded_by.username == "office"
    timeline = world.client.get(f"/cases/{case_id}").text
    assert "决定人 / 会话" in timeline and f"网页会话 {row.session_ref[4:12]}" in timeline


def test_personal_linked_account_decides_as_its_member_from_its_session(world):
    case_id = _awaiting(world)
    login(world.client, "org")  # linked to 刘洋 by the fixture
    page = world.client.get("/committee/").text
    assert 'name="decided_by"' not in page
    assert 'id="decided_by"' not in world.client.get(f"/cases/{case_id}/steps/pre_review_decided").text
    r = world.client.post("/committee/pre-reviews", follow_redirects=True, data={
        "csrf_token": _csrf(page), "case_id": str(case_id), "decision": "approved",
        "occurred_on": "2024-05-27"})
    assert "已完成 1 件预审" in r.text
    row = _rows(case_id)[-1]
    assert row.decided_by_member_id == world.roster["刘洋"] and row.session_ref.startswith("web:")
    # the same login keeps its session reference; a new login gets a new one
    got = world.get("org", f"/api/v1/cases/{case_id}").json["steps"][-1]
    assert got["decided_by"]["name"] == "刘洋" and got["session_ref"] == row.session_ref
    world.client.post("/logout", data={"csrf_token": _csrf(world.client.get("/committee/").text)})
    login(world.client, "org")
    from workflow.web.auth import SESSION_ID
    with world.client.session_transaction() as s:
        assert f"web:{s[SESSION_ID]}" != row.session_ref


def test_unlinked_personal_account_must_name_the_decider(ctx, world):
    _cli(ctx, "users", "create", "--username", "org3", "--password", PASSWORD,
         "--role", "committee_organizer", "--org", "C")
    case_id = _awaiting(world)
    login(world.client, "org3")
    url = f"/cases/{case_id}/steps/pre_review_decided"
    page = world.client.get(url).text
    assert 'id="decided_by"' in page
    r = world.client.post(url, data={"csrf_token": _csrf(page), "occurred_on": "2024-05-27",
                                     "data_decision": "approved", "decided_by": "",
                                     "doc_pre_review_form_ref": "P-1"})
    assert "未关联花名册成员" in r.text
    r = world.client.post(url, data={"csrf_token": _csrf(page), "occurred_on": "2024-05-27",
                                     "data_decision": "approved",
                                     "decided_by": str(world.roster["刘洋"]),
                                     "doc_pre_review_form_ref": "P-1"})
    assert r.status_code == 302, r.text
    row = _rows(case_id)[-1]
    assert row.decided_by_member_id == world.roster["刘洋"] and row.session_ref.startswith("web:")


def test_admin_and_cli_mark_accounts_shared(ctx, world):
    assert "is shared" in _cli(ctx, "users", "set-shared", "--username", "org")
    assert db.session.execute(db.select(User.shared).filter_by(username="org")).scalar_one()
    case_id = _awaiting(world)
    # a shared account must name the person even when it is linked to a roster member
    login(world.client, "org")
    assert 'name="decided_by"' in world.client.get("/committee/").text
    assert "is personal" in _cli(ctx, "users", "set-shared", "--username", "org", "--personal")
    login(world.client, "admin")
    page = world.client.get("/admin/users").text
    assert "多人共用账号" in page
    r = world.client.post("/admin/users/shared", data={"csrf_token": _csrf(page),
                                                       "username": "org", "shared": "y"},
                          follow_redirects=True)
    assert "已设为多人共用账号" in r.text
    db.session.expire_all()
    assert db.session.execute(db.select(User.shared).filter_by(username="org")).scalar_one()
    login(world.client, "sec1")
    assert world.client.post("/admin/users/shared", data={
        "csrf_token": _csrf(world.client.get("/cases/").text), "username": "org",
        "shared": "n"}).status_code == 403
    assert case_id


def test_the_full_record_names_the_decider(world):
    from workflow.services.interchange import excel_export as case_export
    case_id = _awaiting(world)
    assert post_step(world, case_id, "pre_review_decided", "2024-05-27", PRE_REVIEW).status_code == 201
    actor = db.session.execute(db.select(User).filter_by(username="org")).scalar_one()
    report = case_export.full_record(actor, case_id)
    text_ = " ".join(str(c) for sheet in report.sheets for row in sheet.rows for c in row)
    assert "决定人：刘洋" in text_ and "api:token:" in text_
