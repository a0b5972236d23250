"""Yearly development plans in a real browser (issue 21), with the organisation's date pinned
(`TODAY`, as the report tests pin it) so that the plan year is the current one and the forward
planner's warning shows.

The organiser sets a branch's plan from the committee's table, adjusts it with a reason and
reads the version history; the branch secretary records a measure; the auditor reads the table
and finds no form; the page in English has no Chinese outside people's data; at 390 px the
page does not scroll sideways. Screenshots: docs/screenshots/plans-*.png.
"""
from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_english as english_walk
from tests.e2e.test_browser import SHOTS, login, people  # noqa: F401  (fixture)
from tests.e2e.test_english import _people_data
from tests.e2e.test_office_day import _world
from tests.integration.conftest import PASSWORD
from workflow.persistence.db import db
from workflow.persistence.models import PlanMeasure, PlanVersionRow, User

pytestmark = [pytest.mark.db, pytest.mark.e2e]

TODAY = date(2024, 11, 15)
REASON = "街道党工委追加发展名额"
MEASURE = "每季度召开一次入党积极分子座谈会"


@pytest.fixture
def pinned(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", TODAY.isoformat())
    return TODAY


def _shot(page: Page, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"plans-{name}.png"), full_page=full)


def _chinese_left(page: Page) -> list[str]:
    """Han characters the page shows once people's data is taken out: what users typed into
    the system (names, texts of steps) and the plan's reasons and measures."""
    db.session.expire_all()
    mask = _people_data()
    mask += [v.reason for v in db.session.execute(db.select(PlanVersionRow)).scalars()
             if v.reason]
    for m in db.session.execute(db.select(PlanMeasure)).scalars():
        mask += [m.text, m.owner]
    return english_walk._chinese_left(page, sorted(mask, key=len, reverse=True))


def test_plans_from_the_committee_to_the_branch(page: Page, live_server, people, pinned):
    users, roster = people
    from workflow.services import directory
    directory.create_user("auditor", PASSWORD, "auditor", "C01", display_name="审计员")
    users["auditor"] = db.session.execute(
        db.select(User).filter_by(username="auditor")).scalar_one()
    _world(users, roster, pinned)  # B01: a passed admission vote, two candidates, an applicant
    base = live_server

    # --- the organiser sets B01's plan and adjusts it ---------------------------------
    login(page, base, "organizer")
    page.get_by_role("link", name="发展计划").click()
    expect(page.locator("h1")).to_contain_text("2024 年度发展计划")
    row = page.locator("#plans tr[data-org=B01]")
    expect(row).to_contain_text("未下达计划")
    row.locator("details.set-plan summary").click()
    row.locator("#quota-B01").fill("2")
    row.locator("#target_women-B01").fill("1")
    row.locator("#target_under_35-B01").fill("2")
    row.get_by_role("button", name="下达计划").click()
    expect(page.locator(".flash.info")).to_contain_text("已下达机关第一党支部 2024 年度发展计划：2 名")
    expect(row.locator("td.quota")).to_contain_text("2")
    expect(row.locator("td.votes")).to_have_text("1")
    expect(row).to_contain_text("女性 1")

    # more women than new members: the service refuses, the page says why, nothing changes
    row.locator("details.adjust-plan summary").click()
    row.locator("input[name=quota]").fill("1")
    row.locator("input[name=target_women]").fill("2")
    row.locator("textarea[name=reason]").fill(REASON)
    row.get_by_role("button", name="提交调整").click()
    expect(page.locator(".flash.error")).to_contain_text("女性：必须是 0–1 的整数")
    expect(page.locator(".flash.error")).to_contain_text("未作任何修改")
    expect(row.locator("td.quota")).to_contain_text("第 1 版")
    # the refused form stays open, as typed, with the reason at its top
    expect(row.locator("details.adjust-plan form .flash.error")).to_contain_text("未作任何修改")
    expect(row.locator("input[name=quota]")).to_have_value("1")
    expect(row.locator("input[name=target_women]")).to_have_value("2")
    expect(row.locator("textarea[name=reason]")).to_have_value(REASON)
    row.locator("input[name=quota]").fill("5")
    row.locator("input[name=target_women]").fill("1")
    row.locator("textarea[name=reason]").fill(REASON)
    row.get_by_role("button", name="提交调整").click()
    expect(page.locator(".flash.info")).to_contain_text("第 2 版：5 名")
    expect(row.locator("td.gap")).to_have_text("4")
    # the candidates can still reach a vote this year, too few for the four missing
    expect(row.locator("td.warn")).to_contain_text("年内难以完成")
    expect(row.locator("td.warn")).to_contain_text("尚差 4 名，年底前最多")
    expect(page.locator("#plans tr[data-org=B02]")).to_contain_text("未下达计划")
    _shot(page, "committee-table", full=True)

    row.get_by_role("link", name="机关第一党支部").click()
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("首次下达")
    expect(versions.nth(1)).to_contain_text(REASON)
    expect(versions.nth(1)).to_contain_text("刘洋")
    _shot(page, "versions", full=True)

    page.goto(base + "/plans/year-end?year=2024")
    expect(page.locator("#year-end tr[data-org=B01]")).to_contain_text("5")
    expect(page.locator("#structure")).to_be_visible()
    _shot(page, "year-end", full=True)

    # --- the branch secretary records a measure ----------------------------------------
    page.context.clear_cookies()
    login(page, base, "b01")
    page.get_by_role("link", name="发展计划").click()
    expect(page.locator("#plans tbody tr[data-org]")).to_have_count(2)  # B01 and the total
    expect(page.locator("#versions")).to_contain_text(REASON)
    page.fill("#measure-text", MEASURE)
    page.fill("#measure-owner", "组织委员 王芳")
    page.fill("#measure-due", "2024-12-31")
    page.get_by_role("button", name="添加措施").click()
    expect(page.locator(".flash.info")).to_contain_text("已添加落实措施")
    expect(page.locator("#measures")).to_contain_text(MEASURE)
    expect(page.locator("#measures")).to_contain_text("2024-12-31")
    assert page.locator("details.adjust-plan, details.set-plan").count() == 0
    _shot(page, "branch", full=True)

    # --- the auditor reads, with no form -----------------------------------------------
    page.context.clear_cookies()
    login(page, base, "auditor")
    page.get_by_role("link", name="发展计划").click()
    expect(page.locator("#plans tr[data-org=B01] td.quota")).to_contain_text("5")
    assert page.locator("main form[method=post]").count() == 0
    assert page.locator("main details").count() == 0
    page.locator("#plans").get_by_role("link", name="机关第一党支部").click()
    expect(page.locator("#measures")).to_contain_text(MEASURE)
    assert page.locator("main form[method=post]").count() == 0
    _shot(page, "auditor")

    # --- in English, and on a phone ----------------------------------------------------
    page.context.clear_cookies()
    page.goto(base + "/lang/en")
    login(page, base, "organizer")
    page.goto(base + "/plans")
    expect(page.locator("h1")).to_contain_text("2024")
    for details in page.locator("main details").all():
        details.locator("summary").click()  # the forms' labels too
    left = _chinese_left(page)
    assert not left, f"Chinese on the English plan page: {left}"
    _shot(page, "english", full=True)
    page.goto(base + "/plans/year-end")
    left = _chinese_left(page)
    assert not left, f"Chinese on the English year-end page: {left}"
    # a refused adjustment on a phone, in English: the reason at the top of the form, in view,
    # what was typed kept
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/plans")
    row = page.locator("#plans tr[data-org=B01]")
    row.locator("details.adjust-plan summary").click()
    row.locator("input[name=target_women]").fill("9")
    row.locator("textarea[name=reason]").fill("More women candidates this year")
    row.get_by_role("button", name="Submit the adjustment").click()
    refusal = row.locator("details.adjust-plan form .flash.error")
    expect(refusal).to_contain_text("nothing was changed")
    expect(refusal).to_be_in_viewport()
    expect(row.locator("input[name=target_women]")).to_have_value("9")
    left = _chinese_left(page)
    assert not left, f"Chinese on the refused English plan page: {left}"
    _shot(page, "refused-phone")
    page.set_viewport_size({"width": 1366, "height": 768})

    page.goto(base + "/lang/zh")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/plans")
    expect(page.locator("#plans tr[data-org=B01]")).to_contain_text("年内难以完成")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the plan page scrolls sideways at 390 px ({width} px wide)"
    _shot(page, "phone")
