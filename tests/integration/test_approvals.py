"""The approval queue lists every case whose admission or conversion vote passed and that waits
for the committee's approval, whatever its due date (the workbench showed 0 while a case had
passed its admission vote, because it listed only approvals inside an alert window)."""
from __future__ import annotations

import re

import pytest

from tests.integration.helpers import drive, open_case, post_step
from tests.unit.builders import HAPPY, PERSON
from tests.web.test_pages import login


@pytest.fixture
def pinned(ctx, monkeypatch):
    def set_day(day: str) -> None:
        monkeypatch.setitem(ctx.config, "TODAY", day)
    return set_day


def _voted(world, name="陈晓", until="admission_voted"):
    case = open_case(world, date=HAPPY[0][1], person={**PERSON, "name": name})
    drive(world, case["id"], until=until)
    return case["id"]


def test_a_passed_admission_vote_waits_for_approval_from_the_day_it_passed(world, pinned):
    pinned("2024-06-13")  # a day after the vote: approval due 2024-09-12, far from any alert
    case_id = _voted(world)
    r = world.get("org", "/api/v1/approvals")
    assert r.status_code == 200
    assert r.json["items"] == [{
        "case_id": case_id, "kind": "admission", "outcome": None, "voted_on": "2024-06-12",
        "due_on": "2024-09-12", "days_left": 91, "name": "陈晓", "branch": "B1",
        "branch_name": "第一党支部", "state": "candidate.voted"}]


def test_scope_and_roles(world, pinned):
    pinned("2024-06-13")
    case_id = _voted(world)
    assert [i["case_id"] for i in world.get("sec1", "/api/v1/approvals").json["items"]] == \
        [case_id]  # the branch sees its own case (approving is the committee's step)
    assert world.get("aud", "/api/v1/approvals").json["items"][0]["case_id"] == case_id
    assert world.get("sec2", "/api/v1/approvals").json["items"] == []
    assert world.get("org2", "/api/v1/approvals").json["items"] == []
    assert world.client.get("/api/v1/approvals").status_code == 401
    r = post_step(world, case_id, "admission_approved", "2024-06-20", {"decision": "approved"},
                  who="sec1")
    assert r.status_code == 403  # read only for the branch


def test_approved_cases_leave_the_queue_and_conversions_join_it(world, pinned):
    pinned("2025-06-13")
    admitted = _voted(world, "陈晓", until="conversion_voted")
    waiting = _voted(world, "林青", until="admission_voted")
    items = {i["case_id"]: i for i in world.get("org", "/api/v1/approvals").json["items"]}
    assert items[admitted]["kind"] == "conversion" and items[admitted]["outcome"] == "convert"
    assert items[admitted]["voted_on"] == "2025-06-12"
    assert items[admitted]["due_on"] == "2025-09-12" and items[admitted]["days_left"] == 91
    # the admission vote of 2024-06-12 was due for approval by 2024-09-12: overdue, still listed
    assert items[waiting]["days_left"] < 0
    assert [i["case_id"] for i in world.get("org", "/api/v1/approvals").json["items"]] == \
        [waiting, admitted]  # the most urgent first
    r = post_step(world, admitted, "conversion_approved", "2025-06-13", {"decision": "approved"})
    assert r.status_code == 201, r.json
    assert [i["case_id"] for i in world.get("org", "/api/v1/approvals").json["items"]] == \
        [waiting]


def test_the_workbench_lists_the_same_queue(world, pinned):
    pinned("2024-06-13")
    _voted(world)
    login(world.client, "org")
    page = world.client.get("/committee/").get_data(as_text=True)
    section = page[page.index('id="approvals"'):]
    section = section[:section.index("</table>")]
    assert "陈晓" in section and "2024-09-12" in section and "接收预备党员" in section
    assert re.search(r"待审批</?\w*>?（1）|待审批（1）", page)


def test_waiting_for_pre_review_shows_what_the_pre_review_will_find(world, pinned):
    """Sent to pre-review without a political review conclusion: the case page says so (never
    blocks); the committee returns it at no cost; once complete, nothing is shown."""
    from tests.unit.builders import drop
    pinned("2024-05-21")
    entries = drop(HAPPY, "political_review_concluded")
    case = open_case(world, date=HAPPY[0][1])
    drive(world, case["id"], entries, until="branch_committee_reviewed")
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["state"] == "candidate.awaiting_pre_review"
    found = view["pre_review_findings"]
    assert any("政治审查" in f for f in found), found
    login(world.client, "sec1")
    page = world.client.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "预审时将发现的问题" in page and "政治审查" in page
    # the committee returns it: a decision, not a violation (no acknowledgement asked)
    r = post_step(world, case["id"], "pre_review_decided", "2024-05-21",
                  {"decision": "returned", "comments": "请补充政治审查结论"})
    assert r.status_code == 201, r.json
    assert r.json["violations"] == []
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["state"] == "candidate.preparing" and view["pre_review_findings"] == []
    assert not [v for v in view["violations"] if v["rule"] == "political_review_before_prereview"]


def test_a_probation_about_to_run_over_is_on_the_workbench(world, pinned):
    pinned("2025-06-20")  # probation ends 2025-06-12; the conversion vote is due by 2025-07-12
    case = open_case(world, date=HAPPY[0][1])
    drive(world, case["id"], until="conversion_notice_held")
    login(world.client, "org")
    page = world.client.get("/committee/").get_data(as_text=True)
    section = page[page.index('id="conversions"'):]
    section = section[:section.index("</table>")]
    assert "陈晓" in section and "2025-07-12" in section and "转正讨论截止" in section
    pinned("2024-06-13")  # long before: nothing about to run over
    page = world.client.get("/committee/").get_data(as_text=True)
    assert "没有即将超期的转正。" in page
