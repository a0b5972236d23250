"""The personal-data access log: every read or export of people's data leaves exactly one row
(who, which case or how many people, which channel), readers see only their scope, branch
accounts cannot read it, the log never holds an ID number in clear, and nothing edits it."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest

from tests.integration.helpers import drive, open_case
from tests.integration.test_import_export import book, happy_row
from tests.unit.builders import PERSON
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import PersonalDataAccess, User
from workflow.services import clock
from workflow.services.directory import audit

pytestmark = pytest.mark.db

BASE17 = "11010519900307123"


def _valid_id(base: str = BASE17) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return base + "10X98765432"[sum(int(d) * w for d, w in zip(base, weights)) % 11]


ID_NUMBER = _valid_id()


@pytest.fixture(autouse=True)
def _login_limit_off(monkeypatch):
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)


def rows(**where) -> list[PersonalDataAccess]:
    db.session.expire_all()
    query = db.select(PersonalDataAccess).filter_by(**where).order_by(PersonalDataAccess.id)
    return list(db.session.execute(query).scalars())


def uid(name: str) -> int:
    return db.session.execute(db.select(User.id).filter_by(username=name)).scalar_one()


def new_rows(before: int) -> list[PersonalDataAccess]:
    return [r for r in rows() if r.id > before]


def last_id() -> int:
    return max((r.id for r in rows()), default=0)


# --- one row per read -----------------------------------------------------------------------------

def test_viewing_a_case_through_the_api_writes_exactly_one_row(world):
    case = open_case(world)
    assert rows() == []  # opening a case is a write: the history records it, not this log
    assert world.get("org", f"/api/v1/cases/{case['id']}").status_code == 200
    [row] = rows()
    assert (row.user_id, row.case_id, row.action, row.channel, row.subjects) == \
        (uid("org"), case["id"], "view_case", "api", 1)
    assert row.remote == "127.0.0.1" and row.at is not None
    from workflow.services.directory.access import org_by_code
    assert row.org_id == org_by_code("C").id  # the actor's organisation at the time


def test_viewing_a_case_page_writes_exactly_one_row(world):
    case = open_case(world)
    login(world.client, "sec1")
    before = last_id()
    assert world.client.get(f"/cases/{case['id']}").status_code == 200
    [row] = new_rows(before)
    assert (row.user_id, row.case_id, row.action, row.channel) == \
        (uid("sec1"), case["id"], "view_case", "web")


def test_a_refused_read_leaves_no_row(world):
    case = open_case(world)
    assert world.get("sec2", f"/api/v1/cases/{case['id']}").status_code == 404
    assert world.get("org2", f"/api/v1/cases/{case['id']}").status_code == 404
    assert rows() == []


def test_lists_leave_one_row_with_the_number_of_people_named(world):
    for name in ("甲", "乙", "丙"):
        open_case(world, person={**PERSON, "name": name})
    r = world.get("sec1", "/api/v1/cases?per_page=2")
    assert r.status_code == 200 and len(r.json["items"]) == 2
    [row] = rows()
    assert (row.action, row.subjects, row.case_id, row.channel) == ("list_cases", 2, None, "api")
    assert world.get("sec3", "/api/v1/cases").json["items"] == []
    assert len(rows()) == 1  # a list that names nobody discloses nothing: no row
    login(world.client, "org")
    before = last_id()
    assert world.client.get("/cases/").status_code == 200
    [row] = new_rows(before)
    assert (row.action, row.subjects, row.channel) == ("list_cases", 3, "web")


# --- exports --------------------------------------------------------------------------------------

def test_every_export_writes_a_row_with_its_subject_count(world, ctx, tmp_path):
    first = open_case(world)
    drive(world, first["id"], until="candidate_designated")
    open_case(world, person={**PERSON, "name": "王磊"})
    open_case(world, who="sec2", branch="B2", person={**PERSON, "name": "李娜"})

    login(world.client, "org")
    expected = [
        ("/transfer/cases.xlsx", "export_case_list", None, 3),
        ("/transfer/cases.xlsx?branch=B1", "export_case_list", None, 2),
        ("/transfer/cases.xlsx?format=import&branch=B2", "export_import_format", None, 1),
        (f"/transfer/cases/{first['id']}/record.xlsx", "export_case_record", first["id"], 1),
        (f"/transfer/cases/{first['id']}/record.pdf", "export_case_record", first["id"], 1),
        (f"/transfer/cases/{first['id']}/notice.docx", "print_document", first["id"], 1),
        ("/reports/rubric.xlsx?org=B1&year=2024&as_of=2025-08-01", "export_report", None, None),
        ("/reports/committee.pdf?year=2024&as_of=2025-08-01", "export_report", None, None),
    ]
    for url, action, case_id, subjects in expected:
        before = last_id()
        r = world.client.get(url)
        assert r.status_code == 200, url
        [row] = new_rows(before)
        assert (row.action, row.case_id, row.channel, row.user_id) == \
            (action, case_id, "web", uid("org")), url
        if subjects is not None:
            assert row.subjects == subjects, url
    before = last_id()
    xes = world.get("org", "/api/v1/export/events.xes")
    assert xes.status_code == 200
    [row] = new_rows(before)
    assert (row.action, row.subjects, row.channel) == ("export_events_xes", 3, "api")
    before = last_id()
    assert world.get("sec2", "/api/v1/export/events.xes").status_code == 200
    assert [(r.action, r.subjects) for r in new_rows(before)] == [("export_events_xes", 1)]


def test_the_calendar_feed_is_logged_for_its_owner(world):
    case = open_case(world, date=(datetime.now() - timedelta(days=20)).date().isoformat())
    login(world.client, "sec1")
    page = world.client.get("/transfer/calendar").text
    path = re.search(r'<code id="feed-url">([^<]+)</code>', page).group(1).split("localhost", 1)[1]
    before = last_id()
    anonymous = world.client.application.test_client()
    r = anonymous.get(path)
    assert r.status_code == 200 and f"UID:case-{case['id']}-" in r.data.decode()
    [row] = new_rows(before)
    assert (row.action, row.user_id, row.subjects, row.channel) == \
        ("export_calendar", uid("sec1"), 1, "web")


def test_the_import_preview_is_logged_with_the_people_in_the_file(world):
    login(world.client, "sec1")
    page = world.client.get("/transfer/").text
    data = book([happy_row(), happy_row(person={**PERSON, "name": "王磊"})])
    before = last_id()
    r = world.client.post("/transfer/import", data={"csrf_token": _csrf(page),
                                                    "file": (io.BytesIO(data), "records.xlsx")},
                          content_type="multipart/form-data")
    assert r.status_code == 200
    [row] = new_rows(before)
    assert (row.action, row.subjects, row.channel) == ("import_preview", 2, "web")
    assert "records.xlsx" in row.detail


def test_the_cli_backup_is_logged_before_it_is_taken(world, ctx, tmp_path):
    open_case(world)
    open_case(world, person={**PERSON, "name": "王磊"})
    r = ctx.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "b.bin")])
    assert r.exit_code == 0, r.output
    [row] = rows()
    assert (row.action, row.channel, row.user_id, row.org_id, row.subjects) == \
        ("backup", "cli", None, None, 2)
    assert "b.bin" in row.detail
    admin = world.get("admin", "/api/v1/audit?action=backup").json["items"]
    assert [(e["action"], e["user"], e["channel"]) for e in admin] == [("backup", None, "cli")]
    assert world.get("org", "/api/v1/audit?action=backup").json["items"] == []


# --- reading the log ------------------------------------------------------------------------------

def test_branch_accounts_cannot_read_the_log(world):
    r = world.get("sec1", "/api/v1/audit")
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    login(world.client, "sec1")
    assert world.client.get("/admin/audit").status_code == 403
    assert "/admin/audit" not in world.client.get("/cases/").text  # no nav link either


def test_organisers_see_their_subtree_and_the_admin_everything(world):
    mine = open_case(world)
    theirs = open_case(world, who="sec3", branch="B3", person={**PERSON, "name": "外人"})
    world.get("sec1", f"/api/v1/cases/{mine['id']}")
    world.get("org", f"/api/v1/cases/{mine['id']}")
    world.get("sec3", f"/api/v1/cases/{theirs['id']}")
    world.get("org2", f"/api/v1/cases/{theirs['id']}")

    def seen(who: str, query: str = "") -> list[tuple[str, int]]:
        r = world.get(who, f"/api/v1/audit{query}")
        assert r.status_code == 200, r.json
        return sorted((e["user"], e["case_id"]) for e in r.json["items"]
                      if e["action"] == "view_case")

    assert seen("org") == sorted([("sec1", mine["id"]), ("org", mine["id"])])
    assert seen("aud") == seen("org")
    assert seen("org2") == sorted([("sec3", theirs["id"]), ("org2", theirs["id"])])
    assert len(seen("admin")) == 4
    assert seen("org", "?user=sec3") == []  # another committee's accounts stay invisible
    assert seen("org", "?user=sec1") == [("sec1", mine["id"])]
    assert seen("admin", f"?case_id={theirs['id']}") == sorted([("sec3", theirs["id"]),
                                                                ("org2", theirs["id"])])
    body = world.get("org", "/api/v1/audit").get_data(as_text=True)
    assert "外人" not in body and "陈晓" not in body  # the log names cases by id only


def test_filters_dates_and_pages(world):
    case = open_case(world)
    for _ in range(5):
        world.get("sec1", f"/api/v1/cases/{case['id']}")
    world.get("sec1", "/api/v1/cases")
    today = datetime.now(clock.zone()).date()
    r = world.get("org", f"/api/v1/audit?action=view_case&from={today}&to={today}&per_page=2")
    assert r.status_code == 200
    assert (r.json["total"], r.json["page"], len(r.json["items"])) == (5, 1, 2)
    assert all(e["action"] == "view_case" and e["at"].endswith("Z") for e in r.json["items"])
    page3 = world.get("org", "/api/v1/audit?action=view_case&per_page=2&page=3").json["items"]
    assert len(page3) == 1
    newest_first = [e["id"] for e in world.get("org", "/api/v1/audit").json["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    yesterday = today - timedelta(days=1)
    assert world.get("org", f"/api/v1/audit?to={yesterday}").json["total"] == 0
    assert world.get("org", f"/api/v1/audit?from={today + timedelta(days=1)}").json["total"] == 0
    for bad in ("from=2024-13-01", "action=nope", "case_id=abc", "page=0", "per_page=500"):
        r = world.get("org", f"/api/v1/audit?{bad}")
        assert r.status_code == 400 and set(r.json) == {"error"}, bad


def test_the_log_page_lists_filters_and_pages(world):
    case = open_case(world)
    sec1 = db.session.get(User, uid("sec1"))
    for _ in range(55):
        audit.record(sec1, "view_case", case_id=case["id"], channel="api", commit=False)
    db.session.commit()
    login(world.client, "aud")
    page = world.client.get("/admin/audit")
    assert page.status_code == 200
    assert "个人信息访问记录" in page.text and "查看案件" in page.text and "下一页" in page.text
    assert "/admin/audit" in world.client.get("/committee/").text  # the nav link
    second = world.client.get("/admin/audit?page=2&action=view_case")
    assert second.status_code == 200 and "上一页" in second.text
    assert world.client.get("/admin/audit?action=nope").status_code == 200  # flashed, not 500
    filtered = world.client.get("/admin/audit?user=nobody").text
    assert "没有符合条件的访问记录" in filtered
    login(world.client, "admin")
    assert "/admin/audit" in world.client.get("/admin/users").text


@pytest.mark.parametrize("lang, step_form, queue, search", [
    ("zh", "步骤表单 党组织派人谈话", "工作台 党支部=B1", "阶段=入党积极分子 已超期"),
    ("en", "Step form Applicant interviewed", "Work queue Branch=B1", "Stage=Activist Overdue"),
])
def test_the_log_says_steps_stages_and_filters_in_words(world, lang, step_form, queue, search):
    """What a detail holds as keys (a step form's step, a filter's name and value) is shown
    in words of the page's language; data (a branch code) as it is."""
    case = open_case(world)
    sec1 = db.session.get(User, uid("sec1"))
    for detail in ("步骤表单 applicant_interviewed", "工作台 branch=B1",
                   "stage=activist overdue=True"):
        audit.record(sec1, "view_case", case_id=case["id"], channel="web", detail=detail,
                     commit=False)
    db.session.commit()
    login(world.client, "aud")
    world.client.get(f"/lang/{lang}")
    page = world.client.get("/admin/audit").text
    for said in (step_form, queue, search):
        assert f">{said}</td>" in page, said
    assert "applicant_interviewed" not in page and "branch=" not in page


# --- what the log holds and what it refuses -------------------------------------------------------

def test_the_log_never_holds_an_id_number_in_clear(world):
    case = open_case(world, person={**PERSON, "id_number": ID_NUMBER, "birth_date": "1990-03-07",
                                    "gender": "male"})
    assert world.get("org", f"/api/v1/cases/{case['id']}").status_code == 200
    world.get("org", f"/api/v1/cases?q={ID_NUMBER}")  # searched for by mistake: no match, no row
    login(world.client, "org")
    assert world.client.get("/transfer/cases.xlsx?format=import").status_code == 200
    sec1 = db.session.get(User, uid("sec1"))
    audit.record(sec1, "view_case", case_id=case["id"], channel="web",
                 detail=f"身份证{ID_NUMBER.lower()}号，旧号 {ID_NUMBER[:15]}")
    dumped = [repr(tuple(r)) for r in db.session.execute(
        db.select(PersonalDataAccess.__table__))]
    assert len(dumped) == 3
    text = "\n".join(dumped)
    assert ID_NUMBER not in text and ID_NUMBER.lower() not in text
    assert ID_NUMBER[:15] not in text and ID_NUMBER[-10:] not in text
    assert text.count("身份证号已隐去") == 2
    assert ID_NUMBER not in world.get("admin", "/api/v1/audit").get_data(as_text=True)


def test_the_log_is_append_only(world):
    case = open_case(world)
    world.get("sec1", f"/api/v1/cases/{case['id']}")
    [row] = rows()
    public = {n for n in dir(audit) if not n.startswith("_") and callable(getattr(audit, n))
              and getattr(getattr(audit, n), "__module__", "") == audit.__name__}
    assert public == {"record", "entries", "clean", "people_in", "Action"}
    row.detail = "changed"
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(rows()[0])
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    assert [(r.id, r.detail) for r in rows()] == [(row.id, None)]
    for method in ("post", "put", "patch", "delete"):
        r = world.client.open("/api/v1/audit", method=method.upper(),
                              headers=world.headers("admin"))
        assert r.status_code == 405, method


def test_a_failure_to_log_fails_the_request(world, monkeypatch):
    case = open_case(world)

    def broken(*args, **kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(audit, "record", broken)
    r = world.get("org", f"/api/v1/cases/{case['id']}")
    assert r.status_code == 500 and r.json["error"]["code"] == "server_error"
    assert "陈晓" not in r.get_data(as_text=True)
    login(world.client, "org")
    with pytest.raises(RuntimeError):  # TESTING propagates; in production: a 500 page
        world.client.get(f"/cases/{case['id']}")
