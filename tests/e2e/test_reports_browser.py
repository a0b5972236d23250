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


def test_a_table_that_replays_is_a_run_the_administrator_sees_in_words(
        page: Page, live_server, people, ctx, monkeypatch):
    """After a rule change every case is replayed: with the threshold at one case the table
    is a `report` run done by two report processes, and the administrator's list of bulk
    runs names it in the page's language, on a phone too; the settings on the same page are
    words in either language (rule books, settings, yes/no, the organisation's name)."""
    import sqlalchemy as sa

    from tests.e2e.test_browser import PASSWORD, SHOTS
    from tests.e2e.test_english import _chinese_left, _login_in_english, _people_data
    from workflow.persistence.db import db
    from workflow.persistence.models import BulkRun
    from workflow.services import alerts as alerting, directory
    users, roster = people
    _cases(users, roster)
    directory.create_user("admin", PASSWORD, "admin", "C01", display_name="系统管理员")
    alerting.invalidate_deadlines()
    db.session.commit()
    monkeypatch.setitem(ctx.config, "REPORT_PARALLEL_MIN_CASES", 1)
    monkeypatch.setitem(ctx.config, "REPORT_PROCESSES", 2)
    login(page, live_server, "organizer")
    page.goto(f"{live_server}/reports/committee?year=2023")
    expect(page.locator("#branches tbody tr")).to_have_count(2)
    expect(page.locator("#branches tbody tr[data-org=B01]")).to_be_visible()
    db.session.commit()
    run = db.session.execute(sa.select(BulkRun).order_by(BulkRun.id.desc())).scalars().first()
    assert run is not None and run.kind == "report" and run.finished_at is not None
    assert run.chunks == 2

    page.context.clear_cookies()
    login(page, live_server, "admin")
    page.goto(f"{live_server}/admin/settings")
    # a local setting is listed by the organisation's name and the setting's words
    page.select_option("#s-org", "C01")
    page.select_option("#s-key", "notice_before_conversion")
    page.fill("#s-val", "false")
    page.fill("#s-eff", "2026-01-01")
    page.get_by_role("button", name="保存").click()
    local = page.locator("tr", has_text="转正前公示").first
    expect(local).to_contain_text("城南街道党工委")
    expect(local).to_contain_text("否")
    row = page.locator("#bulk-runs tbody tr").first  # the latest run first
    expect(row.locator("td").first).to_have_text(str(run.id))
    expect(row).to_contain_text("重放历史的汇总报表")
    expect(row).to_contain_text("2 / 2")
    assert "report" not in row.inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    row.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "admin-bulk-runs-phone.png"))
    # the phone page scrolls inside the table, never the whole page sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1366, "height": 768})

    _login_in_english(page, live_server, "admin")
    page.goto(f"{live_server}/admin/settings")
    row = page.locator("#bulk-runs tbody tr").first  # the latest run first
    expect(row).to_contain_text("Report from replayed histories")
    local = page.locator("tr", has_text="Public notice before conversion").first
    expect(local).to_contain_text("No")
    page.set_viewport_size({"width": 390, "height": 844})
    local.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "admin-settings-english-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    left = _chinese_left(page, _people_data())
    assert left == [], "\n".join(left)
