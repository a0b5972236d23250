"""The office's working day, walked in a real browser by each role, in Chinese, with the clock at
23:30 UTC: the organisation's date (Beijing) is already the next day, and that is the date the
pages accept as today.

The secretary opens her queue, records a step dated the organisation's today and corrects it;
the organiser returns one pre-review (no violation) and approves another, and sees the
approval queue; the auditor reads the same pages and finds no form anywhere.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import SHOTS, login, people  # noqa: F401  (fixture)
from tests.integration.conftest import PASSWORD
from tests.unit.builders import HAPPY, PERSON
from workflow.persistence.models import User
from workflow.persistence.db import db

pytestmark = [pytest.mark.db, pytest.mark.e2e]


def _late_tonight() -> datetime:
    """23:30 UTC tonight or tomorrow night: always ahead of the browser's own clock, so the
    session cookie the pinned server sets has not already expired for the browser."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(23, 30), UTC)


@pytest.fixture
def late(people):
    moment = _late_tonight()
    with time_machine.travel(moment, tick=True):
        yield moment.date() + timedelta(days=1)  # the organisation's (Beijing) date


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _world(users, roster, org_today: date) -> dict[str, int]:
    """A fresh applicant, two candidates waiting for pre-review (one without a political
    review), and one whose admission vote passed: recorded through the services."""
    from tests.unit.builders import drop
    from workflow.services import cases
    mapping = {1: roster[0], 2: roster[1]}

    def take(name: str, entries, until: str) -> int:
        case = cases.open_case(users["b01"], "B01", {**PERSON, "name": name}, entries[0][1])
        for step, on, data in entries[1:]:
            data = {k: [mapping[i] for i in v] if k in ("cultivators", "introducers") else v
                    for k, v in data.items()}
            actor = users["organizer"] if step in (
                "candidate_trained", "pre_review_decided", "committee_interviewed") \
                else users["b01"]
            extra = {"decided_by": roster[3]} if step == "pre_review_decided" else {}
            cases.record_step(actor, case["id"], step, on, data, **extra)
            if step == until:
                break
        return int(case["id"])

    applied = (org_today - timedelta(days=10)).isoformat()
    fresh = cases.open_case(users["b01"], "B01", {**PERSON, "name": "周新"}, applied)
    return {
        "fresh": int(fresh["id"]),
        "lacking": take("林悦", drop(HAPPY, "political_review_concluded"),
                        "branch_committee_reviewed"),
        "ready": take("许清", HAPPY, "branch_committee_reviewed"),
        "voted": take("高远", HAPPY, "admission_voted"),
    }


def test_a_working_day_as_each_role(page: Page, live_server, people, late):
    users, roster = people
    from workflow.services import directory
    directory.create_user("auditor", PASSWORD, "auditor", "C01",
                          display_name="审计员")
    users["auditor"] = db.session.execute(
        db.select(User).filter_by(username="auditor")).scalar_one()
    org_today = late
    ids = _world(users, roster, org_today)
    base = live_server

    # --- the branch secretary --------------------------------------------------------
    login(page, base, "b01")
    page.goto(base + "/cases/")
    expect(page.locator("body")).to_contain_text("周新")
    _shot(page, "day-secretary-queue")
    page.goto(f"{base}/cases/{ids['fresh']}/steps/applicant_interviewed")
    expect(page.locator("#occurred_on")).to_have_value(org_today.isoformat())  # Beijing's date
    page.fill("#data_interviewer", "张伟")
    page.fill("#doc_interview_record_ref", "档案柜 A-1")
    page.click("button.primary")
    expect(page.locator(".flash.info")).to_contain_text("已记录")  # not refused as future
    # correct it: the step's own form, prefilled, with a reason
    page.locator("#timeline a", has_text="更正").last.click()
    expect(page.locator("#data_interviewer")).to_have_value("张伟")
    page.fill("#data_interviewer", "王芳")
    page.click("button.primary")
    expect(page.locator(".field.has-error")).to_contain_text("请填写更正原因")
    page.fill("#correction_reason", "谈话人录入有误")
    page.click("button.primary")
    expect(page.locator(".flash.info")).to_contain_text("已更正")
    expect(page.locator("#timeline .original")).to_contain_text("张伟")
    expect(page.locator("#timeline .missing").first).to_contain_text("入党申请书")  # words
    expect(page.locator("#timeline")).not_to_contain_text("application_letter")  # not keys
    _shot(page, "day-secretary-correction")
    # the case waiting for pre-review shows what the pre-review will find missing
    page.goto(f"{base}/cases/{ids['lacking']}")
    expect(page.locator("#pre-review-findings")).to_contain_text("政治审查")

    # --- the committee organiser -------------------------------------------------------
    page.context.clear_cookies()
    login(page, base, "organizer")
    queue = page.locator("#pre-reviews")
    expect(queue).to_contain_text("林悦")
    expect(queue).to_contain_text("许清")
    expect(page.locator("#approvals")).to_contain_text("高远")  # the vote passed: waiting
    expect(page.locator("#pr-date")).to_have_value(org_today.isoformat())
    _shot(page, "day-organiser-workbench")
    page.check(f"#pr-{ids['lacking']}")
    page.check("input[name=decision][value=returned]")
    page.fill("#pr-comments", "请补充政治审查结论")
    page.select_option("#pr-decider", str(roster[3]))
    page.click("#pre-reviews button.primary")
    expect(page.locator(".flash.info")).to_contain_text("1")
    page.check(f"#pr-{ids['ready']}")
    page.check("input[name=decision][value=approved]")
    page.fill("#pr-comments", "同意，请按程序公示")
    page.select_option("#pr-decider", str(roster[3]))
    page.click("#pre-reviews button.primary")
    expect(page.locator("#pre-reviews")).not_to_contain_text("许清")
    expect(page.locator("#pre-reviews")).not_to_contain_text("林悦")
    page.goto(f"{base}/cases/{ids['lacking']}")
    expect(page.locator("h1 small")).to_contain_text("发展对象")
    expect(page.locator("#timeline")).not_to_contain_text("预审前应完成政治审查")  # no violation

    # --- the auditor ---------------------------------------------------------------------
    page.context.clear_cookies()
    login(page, base, "auditor")
    expect(page.locator("#approvals")).to_contain_text("高远")
    page.goto(f"{base}/cases/{ids['fresh']}")
    expect(page.locator("#timeline")).to_contain_text("王芳")
    assert page.locator("form button.primary").count() == 0  # no form anywhere on the case
    assert page.locator("#timeline a", has_text="更正").count() == 0
    _shot(page, "day-auditor-case")
    response = page.goto(f"{base}/cases/{ids['fresh']}/steps/activist_designated")
    assert response is not None and response.status == 403


def test_the_changed_pages_at_phone_width(page: Page, live_server, people, late):
    """At 390 px the header is one line whose menu unfolds on a tap; the pages fit."""
    users, roster = people
    ids = _world(users, roster, late)
    login(page, live_server, "organizer")  # (the helper checks the name in the wide header)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#approvals")).to_contain_text("高远")
    header = page.locator("header.top").bounding_box()
    assert header is not None and header["height"] <= 60, header  # one line, not 185 px
    expect(page.locator("header nav")).to_be_hidden()
    _shot(page, "day-phone-workbench")
    page.click(".menu-button")  # the menu unfolds with one thumb
    expect(page.locator("header nav")).to_be_visible()
    expect(page.locator("header nav")).to_contain_text("考核汇总")
    _shot(page, "day-phone-menu")
    favicon = page.request.get(live_server + "/static/favicon.svg")
    assert favicon.status == 200
    assert page.locator("link[rel=icon]").count() == 1
    page.goto(f"{live_server}/cases/{ids['lacking']}")
    expect(page.locator("#pre-review-findings")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the case page scrolls sideways at 390 px ({width} px wide)"
    _shot(page, "day-phone-case")
