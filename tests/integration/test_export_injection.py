"""What people type never becomes live content in the files we hand out, nor a search text in
the access log.

Spreadsheets: a name like `=HYPERLINK(...)` would run as a formula when the file is opened, so
every xlsx export writes such text behind an apostrophe (OWASP CSV injection), and the import
reader takes exactly that apostrophe off again. Each export is fetched through its page and
opened with openpyxl. The calendar feed is read back with `icalendar`: a name with line breaks,
commas and semicolons stays one SUMMARY. The access log says that a search was made, not what
was searched for.
"""
from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from icalendar import Calendar
from openpyxl import load_workbook

from tests.integration.conftest import PASSWORD
from tests.integration.helpers import open_case, post_step
from tests.integration.test_reports import attach_all, pin, record_all  # noqa: F401  (pin)
from tests.unit.builders import HAPPY, PERSON, edit
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import Case, PersonalDataAccess
from workflow.services import directory
from workflow.services.reports.files import cell_value, unescape_cell

pytestmark = pytest.mark.db

STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes Excel, LibreOffice or WPS evaluate a cell
NAME = '=HYPERLINK("http://x","y")'
UNIT = "=cmd|' /C calc'!A0"
OTHER = "-王"
OTHER_UNIT = "@SUM(1+1)*cmd|' /C calc'!A0"
BRANCH = "+党支部=1+1"


@pytest.fixture(autouse=True)
def _login_limit_off(monkeypatch):
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)


def inert(data: bytes) -> list[str]:
    """Every text cell of every sheet, after checking that none is a formula or would be read
    as one; numbers and dates are left as they are."""
    book = load_workbook(io.BytesIO(data))
    texts = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(STARTS), (ws.title, cell.coordinate)
                    texts.append(cell.value)
    return texts


def values(data: bytes, sheet: str) -> list:
    return [v for r in load_workbook(io.BytesIO(data))[sheet].iter_rows(values_only=True)
            for v in r]


def _people(world) -> dict[str, int]:
    """B1: the formula-named person, with a committee-late approval (committee sheet) and no
    assessment records (branch deductions); a second person whose name starts with a minus."""
    e = edit(HAPPY, "admission_approved", "2024-09-13")
    for step in ("admission_filed", "group_assigned", "oath_taken"):
        e = edit(e, step, "2024-09-15")
    first = open_case(world, person={**PERSON, "name": NAME, "unit": UNIT})
    record_all(world, first["id"], e)
    attach_all(world, first["id"], skip=("assessment_record",))
    second = open_case(world, person={**PERSON, "name": OTHER, "unit": OTHER_UNIT})
    r = post_step(world, second["id"], "applicant_interviewed", "2023-03-20",
                  {"interviewer": "-张伟"})
    assert r.status_code == 201, r.json
    return {NAME: first["id"], OTHER: second["id"]}


# --- one export at a time -------------------------------------------------------------------------

def test_case_list_export(world):
    _people(world)
    login(world.client, "sec1")
    r = world.client.get("/transfer/cases.xlsx")
    assert r.status_code == 200
    texts = inert(r.data)
    assert "'" + NAME in texts and "'" + OTHER in texts
    assert isinstance(values(r.data, "案件清单")[-3], int)  # 违规数 stays a number


def test_import_format_export_and_template(world):
    _people(world)
    login(world.client, "sec1")
    r = world.client.get("/transfer/cases.xlsx?format=import")
    assert r.status_code == 200
    texts = inert(r.data)
    assert {"'" + NAME, "'" + UNIT, "'" + OTHER, "'" + OTHER_UNIT, "'-张伟"} <= set(texts)
    assert any(isinstance(v, datetime) for v in values(r.data, "案件"))  # dates stay dates
    inert(world.client.get("/transfer/template.xlsx").data)


def test_printed_record_export(world):
    ids = _people(world)
    login(world.client, "sec1")
    r = world.client.get(f"/transfer/cases/{ids[NAME]}/record.xlsx")
    assert r.status_code == 200
    texts = inert(r.data)
    assert f"'{NAME} 发展党员全程纪实表" in texts  # the title starts with the name
    assert any(UNIT in t for t in texts)
    r = world.client.get(f"/transfer/cases/{ids[OTHER]}/record.xlsx")
    assert r.status_code == 200 and f"'{OTHER} 发展党员全程纪实表" in inert(r.data)


@pytest.mark.usefixtures("pin")  # the services' today: 2026-01-15
def test_committee_rubric_export(world):
    directory.create_org("B9", BRANCH, "branch", "C")
    _people(world)
    login(world.client, "org")
    r = world.client.get("/reports/committee.xlsx?year=2024")
    assert r.status_code == 200
    texts = inert(r.data)
    assert "'" + NAME in texts and "'" + BRANCH in texts
    numbers = [v for v in values(r.data, "考核汇总") if isinstance(v, int)]
    assert numbers and all(not isinstance(v, str) for v in numbers)


@pytest.mark.usefixtures("pin")  # the services' today: 2026-01-15
def test_branch_rubric_export(world):
    _people(world)
    login(world.client, "sec1")
    r = world.client.get("/reports/rubric.xlsx?org=B1&year=2024")
    assert r.status_code == 200
    texts = inert(r.data)
    assert texts.count("'" + NAME) >= 2  # a deduction and the committee's item both name them
    assert any(isinstance(v, int) for v in values(r.data, "扣分明细"))


@pytest.mark.usefixtures("pin")  # the services' today: 2026-01-15
def test_statistics_export(world):
    directory.create_org("B9", BRANCH, "branch", "C")
    _people(world)
    login(world.client, "org")
    r = world.client.get("/reports/statistics.xlsx?year=2024")
    assert r.status_code == 200
    assert "'" + BRANCH in inert(r.data)


# --- and back in --------------------------------------------------------------------------------

def test_escaped_text_imports_back_unchanged(world):
    """B1's export, imported for B2 by the committee's organiser (it holds the committee's
    steps): the same names, unit and interviewer."""
    _people(world)
    login(world.client, "sec1")
    data = world.client.get("/transfer/cases.xlsx?format=import").data
    assert "'" + OTHER in inert(data)
    for name in ("张伟", "王芳", "李强", "赵敏"):  # B2's roster holds the same names
        r = world.post("sec2", "/api/v1/orgs/B2/roster", {"name": name, "status": "full",
                                                          "since": "2000-01-01"})
        assert r.status_code == 201, r.json
    login(world.client, "org")
    page = world.client.get("/transfer/").text
    r = world.client.post("/transfer/import", data={"csrf_token": _csrf(page), "branch": "B2",
                                                    "file": (io.BytesIO(data), "b1.xlsx")},
                          content_type="multipart/form-data")
    assert r.status_code == 200 and "确认导入" in r.text, r.text
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    assert 'name="branch" value="B2"' in r.text
    done = world.client.post("/transfer/import/confirm",
                             data={"csrf_token": _csrf(r.text), "token": token, "branch": "B2"})
    assert done.status_code == 302
    got = {}
    for item in world.get("sec2", "/api/v1/cases?branch=B2").json["items"]:
        case = world.get("sec2", f"/api/v1/cases/{item['id']}").json
        interviews = [s["data"] for s in case["steps"] if s["step"] == "applicant_interviewed"]
        got[case["person"]["name"]] = (case["person"].get("unit"), interviews)
    assert got[NAME][0] == UNIT
    assert got[OTHER] == (OTHER_UNIT, [{"interviewer": "-张伟"}])


def test_the_escape_is_exactly_undone():
    for text in (NAME, OTHER, "\t=1", "\r=1", "'=1", "''+1", "'", "'a", "a=1", "", "王"):
        assert unescape_cell(cell_value(text)) == text
        assert not str(cell_value(text)).startswith(STARTS)
    for kept in (-5, -2.5, 0, date(2024, 1, 1), None):
        assert cell_value(kept) == kept
    assert cell_value("'a") == "'a" and unescape_cell("'a") == "'a"  # not ours: kept


# --- the calendar feed ----------------------------------------------------------------------------

HOSTILE = "x\r\nATTENDEE:mailto:a@b\r,;\\\nEND:VEVENT\r\nBEGIN:VEVENT"


def test_calendar_feed_keeps_hostile_names_as_text(world):
    """A name with line breaks, commas and semicolons, and a 200-character branch name."""
    long_branch = "第" + "长" * 197 + ",;"
    directory.create_org("B9", long_branch, "branch", "C")
    directory.create_user("sec9", PASSWORD, "branch_secretary", "B9")
    world.tokens["sec9"] = directory.create_token("sec9")
    today = date.today().isoformat()
    ids = [open_case(world, who="sec9", branch="B9", date=today)["id"],
           open_case(world, who="sec9", branch="B9", date=today,
                     person={**PERSON, "name": "长" * 50})["id"]]
    # stored as earlier versions (or an import) may have let it through; the column holds 100
    hostile = (HOSTILE + "名" * 100)[:100]
    case = db.session.get(Case, ids[0])
    case.person_name, case.person = hostile, {**case.person, "name": hostile}
    db.session.commit()
    login(world.client, "sec9")
    page = world.client.get("/transfer/calendar").text
    path = re.search(r'<code id="feed-url">([^<]+)</code>', page).group(1).split("localhost", 1)[1]
    r = world.client.application.test_client().get(path)
    assert r.status_code == 200
    assert all(len(line) <= 75 for line in r.data.split(b"\r\n"))
    lines = r.data.replace(b"\r\n", b"")  # no bare CR or LF outside the line ends
    assert b"\r\n" in r.data and b"\n" not in lines and b"\r" not in lines
    feed = Calendar.from_ical(r.data)
    # an X- property has no registered type: the parser keeps its text escaped (RFC 5545 3.3.11)
    assert str(feed["X-WR-CALNAME"]) == "发展党员期限 · " + long_branch.replace(",", "\\,").replace(
        ";", "\\;")
    events = feed.walk("VEVENT")
    assert events and len(events) == len({str(e["UID"]) for e in events})
    mine = [e for e in events if str(e["UID"]).startswith(f"case-{ids[0]}-")]
    assert mine and len(events) == 2 * len(mine)  # the same deadlines for both cases
    as_text = hostile.replace("\r\n", "\n").replace("\r", "\n")  # a line break stays one
    for e in mine:
        status, rest = str(e["SUMMARY"]).split("】", 1)
        assert status.startswith("【") and rest.startswith(as_text + "：")
        assert str(e["DESCRIPTION"]).startswith(f"{long_branch} · {as_text}\n")
        assert "ATTENDEE" not in e and "BEGIN" not in e
    assert not any("ATTENDEE" in c for c in feed.walk())
    assert [c.name for c in feed.walk()] == ["VCALENDAR", *["VEVENT"] * len(events)]
    long_one = [e for e in events if str(e["UID"]).startswith(f"case-{ids[1]}-")]
    assert all("长" * 50 + "：" in str(e["SUMMARY"]) for e in long_one)


# --- the access log -------------------------------------------------------------------------------

def test_the_access_log_keeps_no_search_text(world):
    open_case(world, person={**PERSON, "name": "欧阳娜娜"})
    assert len(world.get("sec1", "/api/v1/cases?q=欧阳娜&branch=B1").json["items"]) == 1
    login(world.client, "sec1")
    assert world.client.get("/transfer/cases.xlsx?q=欧阳").status_code == 200
    assert world.client.get("/transfer/cases.xlsx?format=import&q=娜娜").status_code == 200
    db.session.expire_all()
    rows = list(db.session.execute(db.select(PersonalDataAccess.__table__)))
    details = [r.detail for r in rows]
    assert len(rows) == 3 and all("q=(已检索)" in d for d in details), details
    assert "branch=B1" in details[0]  # the other filters are kept
    dumped = "\n".join(repr(tuple(r)) for r in rows)
    assert "欧阳" not in dumped and "娜" not in dumped
    log = world.get("admin", "/api/v1/audit").get_data(as_text=True)
    assert "欧阳" not in log and "娜" not in log
