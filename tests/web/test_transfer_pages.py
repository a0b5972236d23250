"""Import, export, printable forms and the calendar feed through the pages.

Files are opened the way their readers open them: the workbook with openpyxl, the Word files
with python-docx, the PDFs with poppler's pdftotext (Chinese text means the embedded font has
real glyphs), the .ics by its RFC 5545 lines.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from docx import Document as Docx
from openpyxl import load_workbook

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case
from tests.integration.test_import_export import _broken_file, book, happy_row
from tests.unit.builders import HAPPY, PERSON, edit
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import Case, StepRecordRow

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def _login_limit_off(monkeypatch):
    """test_security turns the shared login limiter on for its own app, and the limiter is one
    object per process; these tests log in many times a minute."""
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)


def _upload(client, data: bytes):
    page = client.get("/transfer/").text
    return client.post("/transfer/import", data={"csrf_token": _csrf(page),
                                                 "file": (io.BytesIO(data), "records.xlsx")},
                       content_type="multipart/form-data")


def _written() -> int:
    return db.session.execute(db.select(db.func.count()).select_from(StepRecordRow)).scalar()


def test_import_preview_then_confirm_then_nothing_new(world):
    login(world.client, "sec1")
    template = world.client.get("/transfer/template.xlsx")
    assert template.status_code == 200 and "attachment" in template.headers["Content-Disposition"]
    headers = [c.value for c in load_workbook(io.BytesIO(template.data))["案件"][1]]
    assert headers[:3] == ["姓名", "性别", "出生日期"] and "支部大会讨论表决·赞成票" in headers
    data = book([happy_row(edit(HAPPY, "applicant_interviewed", "2023-04-05")[:6])])
    r = _upload(world.client, data)
    assert r.status_code == 200 and "陈晓" in r.text and "将导入" in r.text
    assert "一个月" in r.text and _written() == 0  # the violation shown, nothing written
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    done = world.client.post("/transfer/import/confirm",
                             data={"csrf_token": _csrf(r.text), "token": token})
    assert done.status_code == 302 and _written() == 6
    again = _upload(world.client, data)
    assert "已在系统中，跳过" in again.text and "确认导入" not in again.text and _written() == 6
    used = world.client.post("/transfer/import/confirm",
                             data={"csrf_token": _csrf(r.text), "token": token})
    assert used.status_code == 400 and _written() == 6  # a token is good for one import


def test_broken_file_is_refused_with_rows_and_columns(world):
    login(world.client, "sec1")
    r = _upload(world.client, _broken_file())
    assert r.status_code == 200 and "整个文件不会导入" in r.text and "确认导入" not in r.text
    assert re.search(r"<td[^>]*>案件</td><td[^>]*>4</td><td[^>]*>指定培养联系人·培养联系人</td>"
                     r"<td[^>]*>[^<]*钱多多", r.text)
    assert _written() == 0


def test_the_committee_imports_an_archive_holding_its_steps_for_a_branch(world):
    """A secretary's file with the committee's steps is refused cell by cell; the committee's
    organiser imports it, naming the branch, which the confirmation keeps."""
    data = book([happy_row()])
    login(world.client, "sec1")
    page = world.client.get("/transfer/").text
    form = page.split('id="import"')[1]
    assert "只能由上级党委组织员导入" in form and 'name="branch"' not in form
    refused = _upload(world.client, data)
    assert "整个文件不会导入" in refused.text and "上级党委组织员导入" in refused.text
    assert "确认导入" not in refused.text and _written() == 0
    world.client.post("/logout", data={"csrf_token": _csrf(refused.text)})
    login(world.client, "org")
    page = world.client.get("/transfer/").text
    assert '<select name="branch" required>' in page.split('id="import"')[1]
    unnamed = _upload(world.client, data)
    assert unnamed.status_code == 400 and _written() == 0
    r = world.client.post("/transfer/import", data={"csrf_token": _csrf(page), "branch": "B1",
                                                    "file": (io.BytesIO(data), "records.xlsx")},
                          content_type="multipart/form-data")
    assert r.status_code == 200 and "确认导入" in r.text and _written() == 0
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    done = world.client.post("/transfer/import/confirm", data={
        "csrf_token": _csrf(r.text), "token": token, "branch": "B1"})
    assert done.status_code == 302 and _written() == len(HAPPY)
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.branch.code == "B1" and case.stage == "full_member"


def test_auditors_do_not_see_or_use_the_import(world):
    login(world.client, "aud")
    assert "导入历史档案" not in world.client.get("/transfer/").text
    assert _upload(world.client, book([happy_row()])).status_code == 403


def test_case_list_exports_follow_scope_and_filters(world):
    open_case(world)
    world.post("sec2", "/api/v1/cases", {"branch": "B2", "person": {**PERSON, "name": "李娜"},
                                         "application_date": "2024-03-01"})
    login(world.client, "org")
    rows = list(load_workbook(io.BytesIO(world.client.get("/transfer/cases.xlsx").data))
                ["案件清单"].iter_rows(values_only=True))
    assert sorted(r[2] for r in rows[4:]) == ["李娜", "陈晓"]
    only_b2 = world.client.get("/transfer/cases.xlsx?branch=B2&format=import")
    people = list(load_workbook(io.BytesIO(only_b2.data))["案件"].iter_rows(values_only=True))
    assert [p[0] for p in people[1:]] == ["李娜"]
    world.client.post("/logout", data={"csrf_token": _csrf(world.client.get("/transfer/").text)})
    login(world.client, "sec2")
    assert world.client.get("/transfer/cases.xlsx?branch=B1").status_code == 404


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) is not installed")
    path = tmp_path / "form.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("form, expected", [
    ("notice", "公示"), ("prereview", "预审请示"), ("tally", "赞成"), ("record", "全程纪实表")])
def test_forms_as_word_and_pdf_hold_the_recorded_data(world, tmp_path, form, expected):
    case = open_case(world)
    drive(world, case["id"], until="admission_voted")
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").text
    assert f"/transfer/cases/{case['id']}/{form}.docx" in page
    r = world.client.get(f"/transfer/cases/{case['id']}/{form}.docx")
    assert r.status_code == 200 and r.mimetype.endswith("wordprocessingml.document")
    doc = Docx(io.BytesIO(r.data))
    text = "\n".join([p.text for p in doc.paragraphs] +
                     [c.text for t in doc.tables for row in t.rows for c in row.cells])
    assert "陈晓" in text and expected in text
    pdf = world.client.get(f"/transfer/cases/{case['id']}/{form}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    words = _pdf_text(pdf.data, tmp_path)
    assert "陈晓" in words and expected in words


def test_forms_need_the_steps_they_print(world):
    case = open_case(world)
    login(world.client, "sec1")
    assert world.client.get(f"/transfer/cases/{case['id']}/notice.docx").status_code == 422
    assert world.client.get(f"/transfer/cases/{case['id']}/tally.pdf").status_code == 422
    assert world.client.get(f"/transfer/cases/{case['id']}/record.xlsx").status_code == 200
    assert world.client.get(f"/transfer/cases/{case['id']}/notice.xlsx").status_code == 400


def test_another_branch_cannot_export_or_print_a_case(world):
    case = open_case(world)
    drive(world, case["id"], until="admission_voted")
    login(world.client, "sec2")
    for form, fmt in (("record", "pdf"), ("record", "xlsx"), ("notice", "docx"),
                      ("tally", "pdf"), ("prereview", "docx")):
        assert world.client.get(f"/transfer/cases/{case['id']}/{form}.{fmt}").status_code == 404


def _unfold(text: str) -> list[str]:
    assert "\r\n" in text
    return text.replace("\r\n ", "").split("\r\n")


def test_calendar_feed_at_a_secret_url(world):
    recent = (date.today() - timedelta(days=10)).isoformat()
    fresh = open_case(world, date=recent, person={**PERSON, "name": "周新"})
    old = open_case(world)
    drive(world, old["id"], until="activist_designated")
    login(world.client, "sec1")
    page = world.client.get("/transfer/calendar").text
    url = re.search(r'<code id="feed-url">([^<]+)</code>', page).group(1)
    path = url.split("localhost", 1)[1]
    anonymous = world.client.application.test_client()
    r = anonymous.get(path)
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    lines = _unfold(r.data.decode())
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert all(len(line.encode()) <= 75 for line in r.data.decode().split("\r\n"))
    starts = sorted(line.split(":")[1] for line in lines if line.startswith("DTSTART;VALUE=DATE:"))
    expected = sorted(d["due_on"].replace("-", "")
                      for c in (fresh, old)
                      for d in world.get("sec1", f"/api/v1/cases/{c['id']}").json["deadlines"]
                      if d["status"] != "met")
    assert starts == expected and lines.count("BEGIN:VEVENT") == len(expected) > 0
    uids = [line for line in lines if line.startswith("UID:")]
    assert len(set(uids)) == len(uids) and f"UID:case-{fresh['id']}-" in "\n".join(uids)
    assert _unfold(anonymous.get(path).data.decode())[:3] == lines[:3]
    assert uids == [line for line in _unfold(anonymous.get(path).data.decode())
                    if line.startswith("UID:")]
    assert anonymous.get(path[:-8] + "0" * 4 + ".ics").status_code == 404
    other = re.sub(r"/ical/(\d+)-", lambda m: f"/ical/{int(m.group(1)) + 1}-", path)
    assert other != path and anonymous.get(other).status_code == 404
    assert anonymous.get("/transfer/ical/x.ics").status_code == 404
    assert db.session.execute(db.select(db.func.count()).select_from(Case)).scalar() == 2
