"""End-to-end: the organiser sorts the committee table, opens a branch's deductions and follows
one to its step; creates a training course and records an absence. Screenshots go to pytest's
temporary folder (run with --basetemp=DIR to keep them)."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import login, people  # noqa: F401  (fixture)
from tests.unit.builders import HAPPY, PERSON

pytestmark = [pytest.mark.db, pytest.mark.e2e]


def _cases(users, roster) -> dict[str, int]:
    """B01: a case up to activist (papers missing); B02: one application without papers."""
    from workflow.services import cases
    mapping = {1: roster[0], 2: roster[1]}
    b01 = cases.open_case(users["b01"], "B01", {**PERSON, "name": "林悦"}, "2023-03-01")
    for step, on, data in HAPPY[1:6]:
        data = {k: [mapping[i] for i in v] if k == "cultivators" else v for k, v in data.items()}
        cases.record_step(users["b01"], b01["id"], step, on, data)
    b02 = cases.open_case(users["b02"], "B02", {**PERSON, "name": "高远"}, "2023-06-01")
    return {"B01": b01["id"], "B02": b02["id"]}


def test_organiser_reads_the_table_and_runs_a_course(page: Page, live_server, people, tmp_path):
    users, roster = people
    ids = _cases(users, roster)
    login(page, live_server, "organizer")
    page.get_by_role("link", name="考核汇总").click()
    page.fill("input[name=year]", "2023")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#branches tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_role("link", name="合计（8）").click()  # ascending: the worse branch first
    expect(rows.first).to_have_attribute("data-org", "B01")
    page.get_by_role("link", name="合计（8） ▲").click()
    expect(rows.first).to_have_attribute("data-org", "B02")
    page.screenshot(path=str(tmp_path / "committee-table.png"), full_page=True)

    page.get_by_role("link", name="机关第一党支部").click()
    expect(page.locator("#item-13")).to_contain_text("手续不齐全")
    expect(page.locator("#item-13")).to_contain_text("上传或登记纸质存档")
    page.screenshot(path=str(tmp_path / "branch-rubric.png"), full_page=True)
    page.locator("#item-13 a", has_text="查看步骤").first.click()
    expect(page).to_have_url(f"{live_server}/cases/{ids['B01']}#step-1")

    page.get_by_role("link", name="培训班").click()
    page.get_by_role("link", name="新建培训班").click()
    page.fill("#title", "2023年秋季入党积极分子培训班")
    page.fill("#start_on", "2023-10-09")
    page.fill("#end_on", "2023-10-11")
    page.check(f"input[name=invitee][value='{ids['B01']}']")
    page.click("button.primary")
    expect(page.locator(".flash.info")).to_contain_text("邀请 1 人")
    row = page.locator(f"#invitees tr[data-case='{ids['B01']}']")
    row.locator("input[value=n]").check()
    row.get_by_role("button", name="记录").click()
    expect(row).to_contain_text("缺席")
    page.goto(f"{live_server}/reports/rubric?org=B01&year=2023")
    expect(page.locator("#item-14")).to_contain_text("2 / 3")
    expect(page.locator("#item-14")).to_contain_text("2023年秋季入党积极分子培训班")
