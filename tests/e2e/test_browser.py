"""End-to-end in a real browser: a branch secretary, a committee organiser, another branch."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.integration.conftest import PASSWORD
from workflow.persistence.db import db

pytestmark = [pytest.mark.db, pytest.mark.e2e]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def people(ctx):
    from workflow.persistence.models import User
    from workflow.services import directory
    directory.create_org("C01", "城南街道党工委", "committee")
    directory.create_org("B01", "机关第一党支部", "branch", "C01")
    directory.create_org("B02", "社区联合党支部", "branch", "C01")
    for name, role, org, display in (("b01", "branch_secretary", "B01", "周建国"),
                                     ("b02", "branch_secretary", "B02", "吴秀兰"),
                                     ("organizer", "committee_organizer", "C01", "刘洋")):
        directory.create_user(name, PASSWORD, role, org, display_name=display)
    users = {u.username: u for u in db.session.execute(db.select(User)).scalars()}
    ids = [directory.add_roster_member(users["b01"], "B01", {"name": n, "status": "full",
                                                             "since": "2001-07-01"})["id"]
           for n in ("张伟", "王芳", "李强")]
    # a member of the committee who takes its decisions (the organiser's account is not linked)
    ids.append(directory.add_roster_member(users["organizer"], "C01", {
        "name": "孙明", "status": "full", "since": "2003-07-01"})["id"])
    return users, ids


def login(page: Page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    expect(page.locator(".me")).to_be_visible()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def record(page: Page, base: str, case_id: int, step: str, on: str, fill: dict[str, str] | None = None,
           select: dict[str, list[str] | str] | None = None, check: list[str] | None = None) -> None:
    page.goto(f"{base}/cases/{case_id}/steps/{step}")
    page.fill("#occurred_on", on)
    for selector, value in (fill or {}).items():
        page.fill(selector, value)
    for selector, value in (select or {}).items():
        page.select_option(selector, value)
    for selector in check or []:
        page.check(selector)
    page.click("button.primary")


def test_branch_secretary_takes_a_case_to_candidate(page: Page, live_server, people):
    users, roster = people
    base = live_server
    login(page, base, "b01")
    page.goto(base + "/cases/new")
    page.fill("#name", "陈晓")
    page.select_option("#gender", "female")
    page.fill("#birth_date", "1949-12-31")  # as the ID number says (GB 11643)
    page.fill("#id_number", "11010519491231002X")
    page.fill("#application_date", "2023-03-01")
    page.click("button.primary")
    expect(page.locator("h1")).to_contain_text("陈晓")
    expect(page.locator("dl.facts")).to_contain_text("1101**********002X")
    case_id = int(page.url.rstrip("/").split("/")[-1])

    # A late interview: the rule, its article and an acknowledgement with a reason
    page.get_by_role("link", name="党组织派人谈话").first.click()
    page.fill("#occurred_on", "2023-04-05")
    page.fill("#data_interviewer", "张伟")
    page.fill("#doc_interview_record_ref", "档案柜 A-1")
    page.click("button.primary")
    box = page.locator(".violations")
    expect(box).to_contain_text("一个月内派人谈话")
    expect(box).to_contain_text("第七条")  # the article in words
    shot(page, "violation-acknowledgement")
    page.check("#acknowledge")
    page.fill("#reason", "申请人外出学习，返回后补谈")
    page.click("button.primary")
    expect(page.locator(".flash.info")).to_contain_text("已记录")
    expect(page.locator("#timeline")).to_contain_text("申请人外出学习")

    record(page, base, case_id, "activist_designated", "2023-04-10",
           fill={"#data_committee_meeting_on": "2023-04-08",
                 "#doc_recommendation_record_ref": "A-2", "#doc_activist_registration_ref": "A-2"},
           select={"#data_method": "member_recommendation"})
    record(page, base, case_id, "activist_filed", "2023-04-20", fill={"#doc_filing_record_ref": "A-3"})
    record(page, base, case_id, "cultivators_assigned", "2023-04-20",
           select={"#data_cultivators": [str(roster[0]), str(roster[1])]})
    for on, period in (("2023-09-30", "2023H2"), ("2024-03-30", "2024H1")):
        record(page, base, case_id, "activist_assessed", on,
               fill={"#data_period": period, "#data_conclusion": "表现良好",
                     "#doc_assessment_record_ref": "A-4"})
        expect(page.locator(".flash.info")).to_contain_text("已记录")
    record(page, base, case_id, "candidate_designated", "2024-04-15",
           fill={"#data_committee_meeting_on": "2024-04-12", "#doc_candidate_registration_ref": "A-5"},
           check=["#data_opinions_heard-0"])
    expect(page.locator("h1 small")).to_contain_text("发展对象")
    shot(page, "case-page")
    page.goto(base + "/cases/")
    shot(page, "branch-home")


def _awaiting_pre_review(users, roster) -> int:
    from tests.unit.builders import HAPPY, PERSON
    from workflow.services import cases
    case = cases.open_case(users["b01"], "B01", {**PERSON, "name": "林悦"}, "2023-03-01")
    mapping = {1: roster[0], 2: roster[1]}
    for step, on, data in HAPPY[1:]:
        data = {k: [mapping[i] for i in v] if k in ("cultivators", "introducers") else v
                for k, v in data.items()}
        actor = users["organizer"] if step == "candidate_trained" else users["b01"]
        cases.record_step(actor, case["id"], step, on, data)
        if step == "branch_committee_reviewed":
            return int(case["id"])
    raise AssertionError("HAPPY has no branch committee review")


def test_committee_signs_off_a_pre_review(page: Page, live_server, people):
    users, roster = people
    case_id = _awaiting_pre_review(users, roster)
    login(page, live_server, "organizer")
    expect(page.locator("#pre-reviews")).to_contain_text("林悦")
    shot(page, "committee-home")
    page.check(f"#pr-{case_id}")
    page.fill("#pr-date", "2024-05-27")
    page.fill("#pr-comments", "同意，请按程序公示")
    # the account is not linked to a roster member: the sign-off names who decided
    page.select_option("#pr-decider", str(roster[3]))
    page.click("#pre-reviews button.primary")
    expect(page.locator(".flash.info")).to_contain_text("已完成 1 件预审")
    expect(page.locator("#pre-reviews")).not_to_contain_text("林悦")
    page.goto(f"{live_server}/cases/{case_id}")
    expect(page.locator("h1 small")).to_contain_text("预审通过")
    expect(page.locator("#timeline .decision")).to_contain_text("孙明")
    expect(page.locator("#timeline .decision")).to_contain_text("网页会话")


def test_other_branch_case_is_not_reachable_by_url(page: Page, live_server, people):
    users, roster = people
    case_id = _awaiting_pre_review(users, roster)
    login(page, live_server, "b02")
    response = page.goto(f"{live_server}/cases/{case_id}")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text("林悦")
    response = page.goto(f"{live_server}/cases/{case_id}/steps/public_notice_held")
    assert response is not None and response.status == 404


def test_login_error_is_in_chinese(page: Page, live_server, people):
    page.goto(live_server + "/login")
    page.fill("#username", "b01")
    page.fill("#password", "wrong-password1")
    page.click("button.primary")
    expect(page.locator(".flash.error")).to_contain_text("用户名或密码不正确")
    shot(page, "login")


@pytest.mark.parametrize("lang, said", [("zh", "密码不符合要求"), ("en", "password")])
def test_a_refused_new_user_comes_back_as_typed_on_a_phone(page: Page, live_server, people,
                                                           lang, said):
    """The administrator's long users page: the refusal shows at the top of the new-user form,
    in view at 390 px, in the page's language, with what was typed but the password; nothing
    is created."""
    from workflow.services import directory
    directory.create_user("admin", PASSWORD, "admin", "C01", display_name="管理员")
    login(page, live_server, "admin")
    page.goto(live_server + f"/lang/{lang}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/admin/users")
    page.fill("#u", "newbie")
    page.fill("#dn", "新人甲")
    page.fill("#pw", "password12345")
    page.select_option("#role", "auditor")
    page.locator("form.card.grid button[type=submit]").click()
    refusal = page.locator("form.card.grid .flash.error")
    expect(refusal).to_contain_text(said)
    expect(refusal).to_be_in_viewport()
    if lang == "en":
        assert not re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", refusal.inner_text())
    expect(page.locator("#u")).to_have_value("newbie")
    expect(page.locator("#dn")).to_have_value("新人甲")
    expect(page.locator("#role")).to_have_value("auditor")
    expect(page.locator("#pw")).to_have_value("")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.reload()  # a reload of the refused page does not post again
    assert db.session.execute(db.select(db.func.count()).select_from(
        db.Model.metadata.tables["users"]).where(
        db.Model.metadata.tables["users"].c.username == "newbie")).scalar_one() == 0
