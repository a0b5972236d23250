"""Pages through the test client: login, CSRF, scope, language, every page renders."""
from __future__ import annotations

import re

import pytest

from tests.integration.conftest import PASSWORD, world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case

pytestmark = pytest.mark.db


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str) -> None:
    page = client.get("/login").text
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": _csrf(page)})
    assert r.status_code == 302, r.text


def test_pages_need_login(client):
    r = client.get("/cases/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_login_without_csrf_token_is_refused(world):
    r = world.client.post("/login", data={"username": "sec1", "password": PASSWORD})
    assert r.status_code == 400
    assert "/logout" not in world.client.get("/cases/", follow_redirects=True).text


def test_wrong_password_message_in_chinese(world):
    page = world.client.get("/login").text
    r = world.client.post("/login", data={"username": "sec1", "password": "nope", "csrf_token": _csrf(page)})
    assert "用户名或密码不正确" in r.text


def test_every_page_renders_for_its_role(world):
    case = open_case(world)
    drive(world, case["id"], until="branch_committee_reviewed")
    login(world.client, "sec1")
    for url in ("/cases/", "/cases/new", f"/cases/{case['id']}", "/reports/rubric",
                f"/cases/{case['id']}/steps/public_notice_held", "/admin/roster/B1", "/admin/orgs",
                "/password"):
        assert world.client.get(url).status_code == 200, url
    assert world.client.get("/admin/users").status_code == 403
    world.client.post("/logout", data={"csrf_token": _csrf(world.client.get("/cases/").text)})
    login(world.client, "org")
    page = world.client.get("/committee/").text
    assert "待预审" in page and "陈晓" in page
    login(world.client, "admin")
    for url in ("/admin/users", "/admin/settings", "/admin/holidays"):
        assert world.client.get(url).status_code == 200, url


def test_other_branch_case_page_is_404(world):
    case = open_case(world)
    login(world.client, "sec2")
    assert world.client.get(f"/cases/{case['id']}").status_code == 404
    assert world.client.get(f"/cases/{case['id']}/steps/applicant_interviewed").status_code == 404
    assert "陈晓" not in world.client.get("/cases/").text


def test_step_form_post_without_csrf_changes_nothing(world):
    case = open_case(world)
    login(world.client, "sec1")
    r = world.client.post(f"/cases/{case['id']}/steps/applicant_interviewed",
                          data={"occurred_on": "2023-03-15", "data_interviewer": "张伟"})
    assert r.status_code == 400
    assert len(world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"]) == 1


def test_step_form_records_and_shows_field_errors(world):
    case = open_case(world)
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2099-01-01",
                                     "data_interviewer": "张伟"})
    assert "日期不能晚于今天" in r.text
    r = world.client.post(url, data={"csrf_token": token, "occurred_on": "2023-03-15",
                                     "data_interviewer": "张伟", "doc_interview_record_ref": "A-1"})
    assert r.status_code == 302
    got = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert got["steps"][1]["documents"][0]["reference"] == "A-1"


def test_a_paper_location_and_a_file_are_both_kept(world):
    """Issue 19 item 4: the original in the cabinet and its scan, given together, are both
    recorded, from the step form and from the case page's paperwork form."""
    import io
    case = open_case(world)
    login(world.client, "sec1")
    url = f"/cases/{case['id']}/steps/applicant_interviewed"
    token = _csrf(world.client.get(url).text)
    r = world.client.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "occurred_on": "2023-03-15", "data_interviewer": "张伟",
        "doc_interview_record_ref": "档案柜 A-1",
        "doc_interview_record_file": (io.BytesIO(b"%PDF-1.4 talk"), "talk.pdf")})
    assert r.status_code == 302
    step = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][1]
    assert sorted((d["reference"] or "", d["filename"] or "") for d in step["documents"]) == [
        ("", "talk.pdf"), ("档案柜 A-1", "")]
    letter = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    show = world.client.get(f"/cases/{case['id']}").text
    r = world.client.post(f"/cases/{case['id']}/documents", content_type="multipart/form-data",
                          data={"csrf_token": _csrf(show), "step_record_id": str(letter["id"]),
                                "doc_type": "application_letter", "reference": "档案柜 B-2",
                                "file": (io.BytesIO(b"%PDF-1.4 letter"), "letter.pdf")})
    assert r.status_code == 302
    letter = world.get("sec1", f"/api/v1/cases/{case['id']}").json["steps"][0]
    assert sorted((d["reference"] or "", d["filename"] or "") for d in letter["documents"]) == [
        ("", "letter.pdf"), ("档案柜 B-2", "")]
    page = world.client.get(f"/cases/{case['id']}").text
    assert "档案柜 B-2" in page and "letter.pdf" in page


def test_english_is_available(world):
    login(world.client, "sec1")
    world.client.get("/lang/en")
    assert "Work queue" in world.client.get("/cases/").text
    world.client.get("/lang/zh")
    assert "工作台" in world.client.get("/cases/").text


def test_the_applicants_occupation_is_asked_and_shown_as_a_word(world):
    login(world.client, "sec1")
    form = world.client.get("/cases/new").text
    assert 'name="occupation"' in form and "专业技术人员" in form
    r = world.client.post("/cases/new", data={
        "csrf_token": _csrf(form), "name": "职业测试", "gender": "female",
        "birth_date": "1996-06-06", "occupation": "worker", "application_date": "2024-03-01"},
        follow_redirects=True)
    assert r.status_code == 200
    assert "<dt>职业</dt><dd>工人</dd>" in r.text
    world.client.get("/lang/en")
    case_url = re.search(r'href="(/cases/\d+)"', world.client.get("/cases/search?q=职业测试").text)
    page = world.client.get(case_url.group(1)).text
    assert "<dd>Worker</dd>" in page and "<dd>worker</dd>" not in page
