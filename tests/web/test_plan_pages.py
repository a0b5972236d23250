"""The yearly development plan pages (issue 21): who sees and may change what, setting and
adjusting a plan and adding a measure through the forms, refused input shown in Chinese with
nothing changed, and the Excel and PDF files (read back the way a reader would; a name that a
spreadsheet would run as a formula stays text).
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import HAPPY, PERSON
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import PersonalDataAccess

pytestmark = pytest.mark.db

TODAY = "2024-11-15"  # the plan year 2024 is the current year: the planner's warning shows
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def today(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", TODAY)


def _token(client) -> str:
    return _csrf(client.get("/password").text)


def _post(client, url: str, form: dict[str, str]):
    return client.post(url, data={"csrf_token": _token(client), **form})


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as s:
        return list(s.pop("_flashes", []))


def _overview(world, org: str = "B1", year: int = 2024) -> dict:
    return world.get("org", f"/api/v1/plans?org={org}&year={year}").json["rows"][0]


def _set(world, quota: int = 2, **targets: int) -> int:
    r = world.post("org", "/api/v1/plans", {"org": "B1", "year": 2024, "quota": quota,
                                            "targets": targets})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _row(html: str, org: str) -> str:
    match = re.search(rf'<tr data-org="{org}">(.*?)</tr>', html, re.DOTALL)
    assert match, f"no row for {org}"
    return match.group(1)


def test_the_organiser_sets_and_adjusts_plans_from_the_table(world, today):
    login(world.client, "org")
    page = world.client.get("/plans").text  # the organisation's current year by default
    assert "2024 年度发展计划" in page
    for org in ("B1", "B2"):
        assert 'action="/plans/new"' in _row(page, org)  # a set form for each branch
    # another committee's branch: no row, code or name (not the bare "B3", which a page's
    # random CSRF token or CSP nonce may contain)
    assert 'data-org="B3"' not in page and ">B3<" not in page and "外单位党支部" not in page
    r = _post(world.client, "/plans/new", {"org": "B1", "year": "2024", "quota": "3",
                                          "target_women": "1", "target_college": ""})
    assert r.status_code == 302 and "year=2024" in r.headers["Location"]
    assert _flashes(world.client) == [("info", "已下达第一党支部 2024 年度发展计划：3 名")]
    plan = _overview(world)["plan"]
    assert (plan["quota"], plan["targets"], plan["version"]) == (3, {"women": 1}, 1)

    row = _row(world.client.get("/plans?year=2024").text, "B1")
    assert f'action="/plans/{plan["id"]}/adjust"' in row and "/plans/new" not in row
    r = _post(world.client, f"/plans/{plan['id']}/adjust", {
        "quota": "4", "target_women": "2", "target_under_35": "1", "version": "1",
        "reason": "上级党委追加名额"})
    assert r.status_code == 302
    assert _flashes(world.client)[0][0] == "info"
    plan = _overview(world)["plan"]
    assert [(v["version"], v["quota"], v["targets"], v["reason"]) for v in plan["versions"]] == [
        (1, 3, {"women": 1}, ""), (2, 4, {"women": 2, "under_35": 1}, "上级党委追加名额")]
    detail = world.client.get(f"/plans/{plan['id']}").text
    versions = re.search(r'<table class="list" id="versions">(.*?)</table>', detail, re.DOTALL)[1]
    assert "上级党委追加名额" in versions and "首次下达" in versions
    assert "女性 2" in versions and "35 岁及以下 1" in versions
    assert 'id="measure-text"' not in detail  # measures are the branch's to record


@pytest.mark.parametrize("form, words", [
    ({"quota": "-1"}, "计划发展人数：必须是 0–999 的整数"),
    ({"quota": "abc"}, "计划发展人数"),
    ({"quota": "1000"}, "计划发展人数"),
    ({"quota": ""}, "计划发展人数"),
    ({"quota": "2", "target_women": "3"}, "女性：必须是 0–2 的整数"),
    ({"quota": "2", "target_college": "一"}, "大专及以上学历"),
    ({"quota": "2", "year": "1989"}, "年度"),
    ({"quota": "2", "org": "C"}, "党支部"),
])
def test_a_bad_plan_is_refused_in_chinese_and_changes_nothing(world, today, form, words):
    login(world.client, "org")
    r = _post(world.client, "/plans/new", {"org": "B1", "year": "2024", **form})
    assert r.status_code == 422  # the table again, the form as typed (test_refused_forms.py)
    (message,) = _error(r.text)
    assert words in message and "未作任何修改" in message, message
    assert world.get("org", "/api/v1/plans?year=2024").json["total"]["branches_without_plan"] == 2


def _error(page: str) -> list[str]:
    return re.findall(r'<p class="flash error" role="alert"[^>]*>(.*?)</p>', page, re.DOTALL)


def test_a_second_plan_and_a_bad_adjustment_are_refused(world, today):
    plan_id = _set(world)
    login(world.client, "org")
    r = _post(world.client, "/plans/new", {"org": "B1", "year": "2024", "quota": "5"})
    assert r.status_code == 409 and "已存在，请使用调整" in _error(r.text)[0]
    for form, words, status in (({"quota": "3", "reason": ""}, "调整原因：必填", 422),
                                ({"quota": "3", "reason": "追加"}, "至少 4 个字", 422),
                                ({"quota": "x", "reason": "上级党委追加名额"}, "计划发展人数", 422),
                                ({"quota": "3", "reason": "上级党委追加名额", "version": "7"},
                                 "请刷新后重试", 409)):
        r = _post(world.client, f"/plans/{plan_id}/adjust", {**form, "back": "plan"})
        assert r.status_code == status and 'id="versions"' in r.text  # the plan's own page
        (message,) = _error(r.text)
        assert words in message, message
    plan = _overview(world)["plan"]
    assert (plan["version"], plan["quota"]) == (1, 2)


def test_the_auditor_reads_the_table_without_any_form(world, today):
    plan_id = _set(world)
    login(world.client, "aud")
    page = world.client.get("/plans?year=2024").text
    assert 'data-org="B1"' in page and 'data-org="B2"' in page
    assert "/plans/new" not in page and "/adjust" not in page and "/measures" not in page
    assert page.count('method="post"') == 1  # logging out
    assert _post(world.client, "/plans/new", {"org": "B2", "year": "2024",
                                              "quota": "1"}).status_code == 403
    assert _post(world.client, f"/plans/{plan_id}/adjust", {
        "quota": "3", "reason": "上级党委追加名额"}).status_code == 403
    assert _overview(world, "B2")["plan"] is None and _overview(world)["plan"]["version"] == 1


def test_the_branch_secretary_sees_its_plan_and_records_a_measure(world, today):
    plan_id = _set(world, quota=2, women=1)
    login(world.client, "sec1")
    page = world.client.get("/plans?year=2024").text
    assert 'data-org="B1"' in page and 'data-org="B2"' not in page
    assert "/plans/new" not in page and "/adjust" not in page
    assert 'id="versions"' in page and "首次下达" in page
    assert f'action="/plans/{plan_id}/measures"' in page
    assert world.client.get("/plans?org=B2&year=2024").status_code == 404
    typo = world.client.get("/plans?year=abc")  # this year's table, and why, not an error page
    assert typo.status_code == 200 and "年度必须是" in typo.text and 'data-org="B1"' in typo.text
    r = _post(world.client, f"/plans/{plan_id}/measures", {
        "text": "每季度召开一次入党积极分子座谈会", "owner": "组织委员 王芳", "due_on": "2024-12-31"})
    assert r.status_code == 302
    assert _flashes(world.client) == [("info", "已添加落实措施")]
    for form, words in (({"text": " ", "owner": "王芳"}, "措施：必填"),
                        ({"text": "谈心谈话", "owner": "王芳", "due_on": "2024-02-30"},
                         "完成时限：必须是 YYYY-MM-DD")):
        r = _post(world.client, f"/plans/{plan_id}/measures", form)
        (message,) = _error(r.text)
        assert r.status_code == 422 and words in message, message
    measures = _overview(world)["plan"]["measures"]
    assert [(m["text"], m["owner"], m["due_on"]) for m in measures] == [
        ("每季度召开一次入党积极分子座谈会", "组织委员 王芳", "2024-12-31")]
    assert "每季度召开一次入党积极分子座谈会" in world.client.get("/plans?year=2024").text
    # another branch's secretary: the plan does not exist for them
    login(world.client, "sec2")
    assert world.client.get(f"/plans/{plan_id}").status_code == 404
    assert _post(world.client, f"/plans/{plan_id}/measures",
                 {"text": "谈心谈话", "owner": "王芳"}).status_code == 404
    assert len(_overview(world)["plan"]["measures"]) == 1


def test_the_administrator_has_no_plan_pages(world, today):
    login(world.client, "admin")
    assert world.client.get("/plans").status_code == 403
    assert world.client.get("/plans/year-end").status_code == 403


def _admitted(world, name: str = "丙", **person) -> int:
    case = open_case(world, person={**PERSON, "name": name, **person})
    drive(world, case["id"], HAPPY, until="admission_approved")
    return int(case["id"])


def test_the_table_shows_actual_pipeline_and_the_planners_warning(world, today):
    _set(world, quota=3)
    _admitted(world)
    activist = open_case(world, person={**PERSON, "name": "丁", "birth_date": "1996-01-01"})
    drive(world, activist["id"], HAPPY, until="activist_assessed")
    login(world.client, "org")
    row = _row(world.client.get("/plans").text, "B1")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    assert cells[3:7] == ["1", "1", "1 / 0", "2"]  # votes, admitted, pipeline, gap
    assert "年内难以完成" in row
    assert "尚差 2 名，年底前最多 1 名能参加支部大会表决" in row
    b2 = _row(world.client.get("/plans").text, "B2")
    assert "未下达计划" in b2 and "年内难以完成" not in b2


def test_an_over_plan_vote_links_to_its_case(world, today):
    _set(world, quota=0)
    case = open_case(world, person={**PERSON, "name": "戊"})
    vote_at = next(i for i, e in enumerate(HAPPY) if e[0] == "admission_voted")
    drive(world, case["id"], HAPPY[:vote_at])
    step, on, data = HAPPY[vote_at]
    r = post_step(world, case["id"], step, on, data, acknowledge=True, reason="党委同意追加")
    assert r.status_code == 201, r.json
    case_id = case["id"]
    login(world.client, "org")
    row = _row(world.client.get("/plans").text, "B1")
    assert re.search(rf'href="/cases/{case_id}#step-\d+"[^>]*>案件 {case_id}（2024-06-12）', row)


def _sheet(data: bytes, title: str) -> tuple[list, list[list]]:
    ws = load_workbook(io.BytesIO(data))[title]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] in ("支部代码", "类别"))
    return rows[start], rows[start + 1:]


def _exports(detail: str) -> int:
    db.session.expire_all()
    return len(db.session.execute(db.select(PersonalDataAccess).where(
        PersonalDataAccess.action == "export_report",
        PersonalDataAccess.detail.like(f"%{detail}%"))).scalars().all())


def test_the_table_workbook_has_the_rows_versions_and_measures(world, today):
    plan_id = _set(world, quota=2, women=1)
    world.post("org", f"/api/v1/plans/{plan_id}/adjustments",
               {"quota": 3, "targets": {"women": 1}, "reason": "上级党委追加名额"})
    world.post("sec1", f"/api/v1/plans/{plan_id}/measures",
               {"text": "每季度召开座谈会", "owner": "王芳", "due_on": "2024-12-31"})
    _admitted(world)
    login(world.client, "org")
    r = world.client.get("/plans.xlsx?year=2024")
    assert r.status_code == 200 and r.mimetype == XLSX
    assert "attachment" in r.headers["Content-Disposition"]
    header, rows = _sheet(r.data, "发展计划")
    assert header[:5] == ["支部代码", "党支部", "计划发展人数", "计划版本", "女性（计划）"]
    by = {row[1]: dict(zip(header, row)) for row in rows}
    assert (by["第一党支部"]["计划发展人数"], by["第一党支部"]["计划版本"],
            by["第一党支部"]["女性（计划）"], by["第一党支部"]["已通过支部大会表决"],
            by["第一党支部"]["已批准接收"], by["第一党支部"]["尚差"]) == (3, 2, 1, 1, 1, 2)
    assert by["第二党支部"]["计划发展人数"] is None and by["第二党支部"]["提示"] == "未下达计划"
    assert (by["合计"]["计划发展人数"], by["合计"]["提示"]) == (3, "1 个党支部未下达计划")
    _, versions = _sheet(r.data, "版本记录")
    assert [(v[2], v[3], v[6]) for v in versions] == [(1, 2, "首次下达"),
                                                      (2, 3, "上级党委追加名额")]
    _, measures = _sheet(r.data, "落实措施")
    assert [m[2:5] for m in measures] == [["每季度召开座谈会", "王芳", "2024-12-31"]]
    assert _exports("发展计划 C 2024.xlsx") == 1


def test_a_name_a_spreadsheet_would_run_is_written_as_text(world, today):
    from workflow.services import directory
    evil = "=HYPERLINK(\"http://x\",\"点我\")"
    directory.create_org("B4", evil, "branch", "C")
    plan_id = _set(world)
    world.post("org", f"/api/v1/plans/{plan_id}/adjustments",
               {"quota": 3, "reason": "+追加名额 =1+1"})
    world.post("sec1", f"/api/v1/plans/{plan_id}/measures",
               {"text": "@SUM(A1:A9) 座谈会", "owner": "-王芳"})
    login(world.client, "org")
    for url, sheets in (("/plans.xlsx?year=2024", ("发展计划", "版本记录", "落实措施")),
                        ("/plans/year-end.xlsx?year=2024", ("计划与实际",))):
        book = load_workbook(io.BytesIO(world.client.get(url).data))
        cells = [c for title in sheets for row in book[title].iter_rows() for c in row
                 if isinstance(c.value, str)]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        texts = {c.value for c in cells}
        assert "'" + evil in texts or "'" + evil + "（未下达计划）" in texts, url
        assert evil not in texts
    book = load_workbook(io.BytesIO(world.client.get("/plans.xlsx?year=2024").data))
    texts = {c.value for t in ("版本记录", "落实措施") for row in book[t].iter_rows() for c in row}
    assert {"'+追加名额 =1+1", "'@SUM(A1:A9) 座谈会", "'-王芳"} <= texts


def test_the_year_end_report_page_and_files(world, today):
    _set(world, quota=2, women=1, college=1)
    _admitted(world, "丙", education="大学本科", ethnicity="回族", occupation="worker")
    login(world.client, "org")
    page = world.client.get("/plans/year-end?year=2024").text
    row = _row(page, "B1")
    assert re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)[1:6] == ["2", "1", "1", "1", "0"]
    assert "1 / 1" in row  # women: one admitted of one planned
    total = _row(page, "total")
    assert re.findall(r"<th[^>]*>(.*?)</th>", total, re.DOTALL)[1:4] == ["2", "1", "1"]
    structure = page[page.index('id="structure"'):]
    for dim, key in (("gender", "female"), ("education", "college"), ("ethnicity", "minority"),
                     ("occupation", "worker")):
        table = re.search(rf'data-dimension="{dim}">(.*?)</table>', structure, re.DOTALL)[1]
        assert re.search(rf'data-key="{key}"><td>[^<]+</td><td>1</td>', table), dim
    assert "共 1 名" in structure
    # in English: the target and structure labels of the core, not their Chinese
    world.client.get("/lang/en")
    english = world.client.get("/plans/year-end?year=2024").text
    assert "Women" in english and "College or above" in english and "Ethnic minorities" in english
    world.client.get("/lang/zh")

    r = world.client.get("/plans/year-end.xlsx?year=2024")
    assert r.status_code == 200 and r.mimetype == XLSX
    header, rows = _sheet(r.data, "计划与实际")
    b1 = dict(zip(header, rows[0]))
    assert (b1["支部代码"], b1["计划发展人数"], b1["已批准接收"], b1["女性（实际/计划）"]) == (
        "B1", 2, 1, "1 / 1")
    assert rows[-1][1] == "合计"
    _, counts = _sheet(r.data, "预备党员构成")
    assert ["民族", "少数民族", 1] in counts and ["学历", "大专及以上", 1] in counts
    assert _exports("发展计划年终报告 C 2024.xlsx") == 1
    if shutil.which("pdftotext"):
        pdf = world.client.get("/plans/year-end.pdf?year=2024")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True,
                              check=True).stdout.decode()
        assert "第一党支部" in text and "少数民族" in text
    assert world.client.get("/plans/year-end.csv?year=2024").status_code == 404


def test_the_plan_page_speaks_english(world, today):
    _set(world, quota=2, women=1)
    login(world.client, "org")
    world.client.get("/lang/en")
    page = world.client.get("/plans?year=2024").text
    assert "Women 1" in page and "Aged 35 or under" in page  # target names, form labels
    assert "女性" not in page
