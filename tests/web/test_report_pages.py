"""Score, statistics and training pages, and the Excel and PDF files they hand out.

The files are opened the way a reader would: the workbook with openpyxl (same numbers as
GET /api/v1/rubric), the PDF rendered with poppler's pdftoppm (not blank) and read back with
pdftotext (the Chinese branch name is there, so the embedded CJK font has real glyphs).
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case, plan_year, post_step
from tests.integration.test_reports import attach_all, pin, record_all, rubric  # noqa: F401
from tests.unit.builders import HAPPY, PERSON, edit
from tests.web.test_pages import _csrf, login
from workflow.services import reports

pytestmark = pytest.mark.db


def _history(world) -> dict[str, int]:
    """B1: a case with a committee-late approval and a missing assessment record; B2: a late
    interview without papers."""
    e = edit(HAPPY, "admission_approved", "2024-09-13")
    for step in ("admission_filed", "group_assigned", "oath_taken"):
        e = edit(e, step, "2024-09-15")
    b1 = open_case(world)
    record_all(world, b1["id"], e)
    attach_all(world, b1["id"], skip=("assessment_record",))
    plan_year(world)  # B1 held its 2024 admission vote under a plan
    r = world.post("sec2", "/api/v1/cases", {"branch": "B2", "person": {**PERSON, "name": "李娜"},
                                             "application_date": "2024-03-01"})
    post_step(world, r.json["id"], "applicant_interviewed", "2024-04-05", {"interviewer": "王芳"},
              who="sec2", acknowledge=True, reason="补录")
    return {"B1": b1["id"], "B2": r.json["id"]}


def _sheet_rows(data: bytes, sheet: str) -> tuple[list, list[list]]:
    """The header row (the first row starting with a known header) and the rows below it."""
    ws = load_workbook(io.BytesIO(data))[sheet]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] in ("支部代码", "项目", "党支部", "案件"))
    return rows[start], rows[start + 1:]


def test_committee_workbook_holds_the_api_numbers(world, pin):
    _history(world)
    login(world.client, "org")
    r = world.client.get("/reports/committee.xlsx?year=2024")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in r.headers["Content-Disposition"]
    header, rows = _sheet_rows(r.data, "考核汇总")
    assert header[:5] == ["支部代码", "党支部", "第13项（满分5）", "第14项（满分3）", "合计（满分8）"]
    assert [row[0] for row in rows] == ["B1", "B2"]
    for row in rows:
        api = rubric(world, org=row[0], year=2024)
        assert (row[2], row[3], row[4]) == (
            api["items"]["13"]["score"], api["items"]["14"]["score"],
            api["items"]["13"]["score"] + api["items"]["14"]["score"])
        assert isinstance(row[2], int)
        for col, year in ((5, 2022), (6, 2023)):
            past = rubric(world, org=row[0], year=year)
            assert row[col] == past["items"]["13"]["score"] + past["items"]["14"]["score"]
    _, committee = _sheet_rows(r.data, "上级党委责任")
    assert [(c[0], c[3]) for c in committee] == [
        ("第一党支部", reports.rule_label("approval_within_three_months"))]


def test_branch_workbook_lists_the_api_deductions(world, pin):
    ids = _history(world)
    login(world.client, "sec1")
    r = world.client.get("/reports/rubric.xlsx?org=B1&year=2024")
    assert r.status_code == 200
    api = rubric(world, who="sec1", org="B1", year=2024)
    _, summary = _sheet_rows(r.data, "得分")
    assert [(s[1], s[2], s[3]) for s in summary[:2]] == [
        (i["score"], i["max"], len(i["deductions"])) for i in api["items"].values()]
    header, detail = _sheet_rows(r.data, "扣分明细")
    assert header[:8] == ["项目", "类别", "案件", "姓名", "规则", "步骤记录", "日期", "扣分"]
    assert [(d[0], d[2], d[5], d[6], d[7]) for d in detail] == [
        (k, d["case_id"], d["step_record_id"], d["on"], d["points"])
        for k, i in api["items"].items() for d in i["deductions"]]
    assert {d[2] for d in detail} == {ids["B1"]} and len(detail) == 3  # 2024's assessments
    assert world.client.get("/reports/rubric.xlsx?org=B2&year=2024").status_code == 404


def _poppler(*args: str) -> str:
    tool = shutil.which(args[0])
    assert tool, f"{args[0]} missing: apt-get install poppler-utils"
    return subprocess.run([tool, *args[1:]], check=True, capture_output=True, text=True).stdout


def _check_pdf(data: bytes, tmp_path: Path, *texts: str) -> None:
    """Rendered, the first page has ink; read back, the Chinese text is there; the font is in
    the file (so a machine without CJK fonts shows the same)."""
    from PIL import Image
    assert data.startswith(b"%PDF")
    tmp_path.mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    _poppler("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page"))
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    dark = sum(page.histogram()[:128])
    assert dark > 2000, "the rendered page is (almost) blank"
    text = _poppler("pdftotext", "-layout", str(pdf), "-")
    for t in texts:
        assert t in text, (t, text[:500])
    fonts = _poppler("pdffonts", str(pdf))
    assert re.search(r"WenQuanYi.*\byes\b", fonts), fonts


def test_committee_and_branch_pdfs_render_chinese(world, pin, tmp_path):
    _history(world)
    login(world.client, "org")
    r = world.client.get("/reports/committee.pdf?year=2024")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    _check_pdf(r.data, tmp_path / "c", "第一党支部", "第二党支部", "测试党委", "上级党委责任")
    r = world.client.get("/reports/rubric.pdf?org=B1&year=2024")
    assert r.status_code == 200
    _check_pdf(r.data, tmp_path / "b", "第一党支部", "扣分明细", "陈晓")


def test_statistics_page_and_files(world, pin, tmp_path):
    case = open_case(world)
    drive(world, case["id"])
    login(world.client, "aud")
    page = world.client.get("/reports/statistics?year=2024").text
    assert "接收预备党员" in page and 'data-org="B1"' in page
    r = world.client.get("/reports/statistics.xlsx?year=2024")
    header, rows = _sheet_rows(r.data, "发展统计")
    assert header[2:] == ["确定入党积极分子", "积极分子参加党校培训", "确定发展对象",
                          "接收预备党员（审批通过）", "预备党员转正"]
    assert rows == [["B1", "第一党支部", 0, 0, 1, 1, 0], ["B2", "第二党支部", 0, 0, 0, 0, 0],
                    [None, "合计", 0, 0, 1, 1, 0]]
    pdf = world.client.get("/reports/statistics.pdf?year=2024")
    _check_pdf(pdf.data, tmp_path / "s", "第一党支部", "发展党员工作统计")


def test_branch_page_explains_each_deduction(world, pin):
    ids = _history(world)
    login(world.client, "sec1")
    page = world.client.get("/reports/rubric?org=B1&year=2024").text
    api = rubric(world, who="sec1", org="B1", year=2024)
    for d in api["items"]["13"]["deductions"]:
        assert f'/cases/{ids["B1"]}#step-{d["step_record_id"]}' in page
        assert d["fix"] in page and d["message"] in page
    assert "陈晓" in page and "手续不齐全" in page
    assert "上级党委责任（不扣支部分）" in page  # the late approval, reported, not deducted
    assert f'data-item="13">{api["items"]["13"]["score"]} / 5' in page
    assert "/reports/rubric.xlsx?org=B1" in page and "/reports/rubric.pdf?org=B1" in page
    assert world.client.get("/reports/rubric?org=B2&year=2024").status_code == 404
    typo = world.client.get("/reports/rubric?org=B1&year=nope")  # this year's page, and why
    assert typo.status_code == 200 and "年度必须是" in typo.text
    assert world.client.get("/reports/rubric.xlsx?org=B1&year=nope").status_code == 400


def test_deductions_read_in_english_on_english_pages(world, pin):
    """The rubric and the committee table in English: each deduction's kind, reason, rule and
    fix in English (the missing papers named from the catalogue); the API keeps Chinese."""
    import html

    from tests.e2e.test_english import HAN
    _history(world)
    login(world.client, "org")
    world.client.get("/lang/en")
    api = rubric(world, who="org", org="B1", year=2024)
    deductions = api["items"]["13"]["deductions"] + api["committee"]
    assert {"paperwork", "procedure"} <= {d["kind"] for d in deductions}
    assert all(HAN.search(d["message"]) for d in deductions)  # the API is unchanged
    assert not {"message_en", "fix_en"} & {k for d in deductions for k in d}
    for path in ("/reports/rubric?org=B1&year=2024", "/reports/committee?year=2024"):
        page = html.unescape(world.client.get(path).text)
        rows = re.findall(r"<tbody>(.*?)</tbody>", page, re.DOTALL)
        assert rows
        for body in rows:  # people's and branches' names are data; nothing else is Chinese
            text = re.sub(r"<[^>]+>", " ", body)
            for name in ("陈晓", "李娜", "第一党支部", "第二党支部"):
                text = text.replace(name, "")
            assert not HAN.search(text), (path, HAN.findall(text))
    page = html.unescape(world.client.get("/reports/rubric?org=B1&year=2024").text)
    assert "Papers incomplete" in page
    assert "“Activist assessed” lacks papers: assessment record" in page
    assert "Upload, or record where the paper copy is kept: assessment record" in page
    # the committee's late approval: the rule in English with the dates the miss records
    assert "Approve within three months of the vote (six with a reason) (art. 25): " \
        "due 2024-09-12, done 2024-09-13" in page


def test_committee_page_sorts_and_shows_committee_items(world, pin):
    _history(world)
    login(world.client, "org")
    home = world.client.get("/committee/").text
    for link in ("/reports/committee", "/trainings/", "/reports/statistics"):
        assert link in home
    # 2024: B1 5 + 3 (three assessment records missing), B2 1 + 3 (late interview, no papers)
    page = world.client.get("/reports/committee?year=2024&sort=total&dir=asc").text
    assert page.index('data-org="B2"') < page.index('data-org="B1"')
    assert 'aria-sort="ascending"' in page
    assert "sort=total&amp;dir=desc" in page  # clicking again reverses
    page = world.client.get("/reports/committee?year=2024&sort=total&dir=desc").text
    assert page.index('data-org="B1"') < page.index('data-org="B2"')
    assert reports.rule_label("approval_within_three_months") in page
    assert "2022–2024" in page
    login(world.client, "sec1")
    mine = world.client.get("/reports/committee?year=2024").text
    assert 'data-org="B1"' in mine and 'data-org="B2"' not in mine
    assert world.client.get("/reports/committee?org=C&year=2024").status_code == 404
    assert world.client.get("/reports/committee.pdf?org=C&year=2024").status_code == 404
    assert world.client.get("/reports/committee.csv?year=2024").status_code == 400
    login(world.client, "org2")
    assert world.client.get("/reports/rubric.xlsx?org=B1&year=2024").status_code == 404
    assert world.client.get("/reports/statistics.xlsx?org=C&year=2024").status_code == 404


def test_training_pages_create_invite_and_record_attendance(world, pin):
    cases = [open_case(world) for _ in range(2)]
    for c in cases:
        drive(world, c["id"], until="activist_assessed")
    login(world.client, "org")
    form = world.client.get("/trainings/new").text
    assert "第一党支部" in form and f'value="{cases[0]["id"]}"' in form
    bad = world.client.post("/trainings/new", data={
        "csrf_token": _csrf(form), "title": "", "start_on": "2023-10-09", "end_on": "2023-10-08",
        "hours": "24", "invitee": [str(c["id"]) for c in cases]})
    assert bad.status_code == 422 and "必填" in bad.text
    r = world.client.post("/trainings/new", data={
        "csrf_token": _csrf(form), "title": "2023年秋季入党积极分子培训班",
        "start_on": "2023-10-09", "end_on": "2023-10-11", "hours": "24",
        "invitee": [str(c["id"]) for c in cases]})
    assert r.status_code == 302, r.text
    show = world.client.get(r.headers["Location"]).text
    assert "2023年秋季入党积极分子培训班" in show and show.count("未记录") == 2
    tid = int(r.headers["Location"].rstrip("/").split("/")[-1])
    r = world.client.post(f"/trainings/{tid}/attendance", data={
        "csrf_token": _csrf(show), "case_id": str(cases[0]["id"]), "attended": "y"})
    assert r.status_code == 302
    r = world.client.post(f"/trainings/{tid}/attendance", data={
        "csrf_token": _csrf(show), "case_id": str(cases[1]["id"]), "attended": "n"})
    show = world.client.get(f"/trainings/{tid}").text
    assert "缺席" in show and "未记录" not in show
    name = cases[1]["person"]["name"]
    assert f"已记录{name}的出勤" in show and "已记录案件" not in show  # the person named
    assert "2023年秋季入党积极分子培训班" in world.client.get("/trainings/").text
    item14 = rubric(world, year=2023)["items"]["14"]
    assert item14["score"] == 2 and [d["case_id"] for d in item14["deductions"]] == [cases[1]["id"]]
    # a recorded attendance is changed by a correction with a reason, offered on the page
    assert show.count(f'action="/trainings/{tid}/attendance/change"') == 2
    r = world.client.post(f"/trainings/{tid}/attendance/change", data={
        "csrf_token": _csrf(show), "case_id": str(cases[1]["id"]), "attended": "y",
        "reason": ""})
    show = world.client.get(f"/trainings/{tid}").text
    assert "必须说明改动的原因" in show and show.count("缺席") >= 1
    r = world.client.post(f"/trainings/{tid}/attendance/change", data={
        "csrf_token": _csrf(show), "case_id": str(cases[1]["id"]), "attended": "y",
        "reason": "签到表漏登"})
    assert r.status_code == 302
    show = world.client.get(f"/trainings/{tid}").text
    assert f"已更正{name}的出勤" in show
    assert rubric(world, year=2023)["items"]["14"]["score"] == 3
    history = world.client.get(f"/cases/{cases[1]['id']}").text
    assert "签到表漏登" in history  # the reason is in the case's history
    login(world.client, "aud")
    assert world.client.get(f"/trainings/{tid}").status_code == 200
    assert world.client.get("/trainings/new").status_code == 403
    login(world.client, "sec1")
    assert world.client.get("/trainings/").status_code == 403
    login(world.client, "org2")
    assert world.client.get(f"/trainings/{tid}").status_code == 404
