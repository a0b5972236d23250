"""Issue 19 item 7: in English, no page shows Chinese outside people's data.

Each role (branch secretary, committee organiser, auditor) logs in with English selected and
visits every page its navigation links to, plus a case page, a step form, the pipeline, a
training course, the search, the inbox, the transfer and calendar pages. On each, the visible
text (and the placeholders) must hold no Han character once people's data is taken out.

People's data is taken out explicitly, and only that: every text a user typed into the system
as it is stored (organisation, account, roster and applicant names, the applicant's details,
the texts of recorded steps, notes, reasons, paper locations, course titles), read from the
database, plus the link "中文" of the language switch (marked `lang="zh"`). Whatever Chinese
is left is the system's own words, which must have an English text.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import SHOTS, people  # noqa: F401  (fixture)
from tests.e2e.test_office_day import _world
from tests.integration.conftest import PASSWORD
from workflow.persistence.db import db
from workflow.persistence.models import (
    Case,
    Document,
    Organisation,
    RosterMember,
    StepRecordRow,
    Training,
    User,
)

pytestmark = [pytest.mark.db, pytest.mark.e2e]

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Chinese punctuation (、。「」【】…) and the full-width forms of ASCII's (（）：，；！？): English
# text around data uses the ASCII ones (workflow.web.PUNCTUATION)
FULL_WIDTH = re.compile(r"[\u3001-\u303f\uff01-\uff0f\uff1a-\uff1f\uff3b-\uff40\uff5b-\uff65]")

# The text a person sees: rendered text of elements (not inside a `lang="zh"` element, which
# only the language switch's "中文" is), and the placeholders of the form fields.
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest('[lang^="zh"], script, style, template')) continue;
    const box = el.getClientRects().length > 0 || el.closest('details:not([open])');
    if (!box && !el.closest('select')) continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder]'))
    out.push(el.getAttribute('placeholder'));
  out.push(document.title);
  return out;
}"""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _people_data() -> list[str]:
    """Every text users typed into the system, longest first (so that a name inside a longer
    text does not leave the rest of it behind)."""
    found: list[str] = []
    found += [o.name for o in db.session.execute(db.select(Organisation)).scalars()]
    found += [u.display_name or "" for u in db.session.execute(db.select(User)).scalars()]
    found += [m.name for m in db.session.execute(db.select(RosterMember)).scalars()]
    for c in db.session.execute(db.select(Case)).scalars():
        found += [c.person_name, *_strings(c.person)]
    for r in db.session.execute(db.select(StepRecordRow)).scalars():
        found += [*_strings(r.data), r.note or ""]
    for d in db.session.execute(db.select(Document)).scalars():
        found += [d.reference or "", d.filename or ""]
    for t in db.session.execute(db.select(Training)).scalars():
        found += [t.title, t.number]
    return sorted({s.strip() for s in found if HAN.search(s or "") or FULL_WIDTH.search(s or "")},
                  key=len, reverse=True)


def _chinese_left(page: Page, mask: list[str]) -> list[str]:
    left = []
    for text in page.evaluate(VISIBLE_TEXT):
        for value in mask:
            text = text.replace(value, "")
        if HAN.search(text) or FULL_WIDTH.search(text):
            left.append(text[:120])
    return left


def _login_in_english(page: Page, base: str, username: str) -> list[str]:
    """Log in from the English login page; what Chinese that page showed."""
    page.context.clear_cookies()
    page.goto(base + "/lang/en")
    page.goto(base + "/login")
    left = _chinese_left(page, [])
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    expect(page.locator(".me")).to_be_visible()
    return left


def _nav_pages(page: Page, base: str) -> list[str]:
    """Every page the header links to (navigation, bell, account), on this server."""
    hrefs = page.eval_on_selector_all("header a[href]", "els => els.map(e => e.href)")
    paths = []
    for href in hrefs:
        url = urlparse(urljoin(base, href))
        if url.netloc == urlparse(base).netloc and not url.path.startswith(("/lang/", "/logout")):
            paths.append(url.path + (f"?{url.query}" if url.query else ""))
    return list(dict.fromkeys(paths))


def _training(users, activist_case: int) -> int:
    from workflow.services import committee
    t = committee.create_training(users["organizer"], {
        "title": "2023年秋季入党积极分子培训班", "number": "2023-第3期",
        "start_on": "2023-10-09", "end_on": "2023-10-11", "hours": 24,
        "invitees": [activist_case]})
    committee.record_attendance(users["organizer"], t["id"],
                                {"case_id": activist_case, "attended": False})
    return int(t["id"])


def _activist(users, roster) -> int:
    from tests.unit.builders import HAPPY, PERSON
    from workflow.services import cases
    case = cases.open_case(users["b01"], "B01", {**PERSON, "name": "钱多", "education": "本科",
                                               "ethnicity": "汉族", "unit": "街道办事处"},
                           "2023-03-01", )
    mapping = {1: roster[0], 2: roster[1]}
    for step, on, data in HAPPY[1:]:
        data = {k: [mapping[i] for i in v] if k in ("cultivators", "introducers") else v
                for k, v in data.items()}
        cases.record_step(users["b01"], case["id"], step, on, data)
        if step == "activist_assessed":
            return int(case["id"])
    raise AssertionError("HAPPY has no assessment")


def test_every_page_in_english_shows_no_chinese_but_peoples_data(page: Page, live_server,
                                                                 people):  # noqa: F811
    from workflow.services import clock, directory
    users, roster = people
    directory.create_user("auditor", PASSWORD, "auditor", "C01", display_name="审计员")
    users["auditor"] = db.session.execute(
        db.select(User).filter_by(username="auditor")).scalar_one()
    ids = _world(users, roster, clock.today())
    activist = _activist(users, roster)
    training = _training(users, activist)
    base = live_server
    mask = _people_data()
    extra = [f"/cases/{ids['ready']}", f"/cases/{ids['fresh']}", f"/cases/{activist}",
             "/pipeline", "/cases/search?q=%E6%9E%97", "/inbox/"]
    per_role = {
        "b01": [*extra, f"/cases/{ids['fresh']}/steps/applicant_interviewed", "/transfer/",
                "/transfer/calendar"],
        "organizer": [*extra, "/trainings/", f"/trainings/{training}", "/trainings/new",
                      "/admin/orgs", "/reports/statistics", "/transfer/", "/transfer/calendar"],
        "auditor": [*extra, "/trainings/", f"/trainings/{training}", "/reports/statistics"],
    }
    problems: dict[str, list[str]] = {}
    visited = 0
    for username, pages in per_role.items():
        left = _login_in_english(page, base, username)
        if left:
            problems["/login"] = left
        for path in dict.fromkeys(_nav_pages(page, base) + pages):
            response = page.goto(base + path)
            if response is None or response.status == 404:
                continue  # a link of another role's page list
            assert response.status == 200, (username, path, response.status)
            visited += 1
            left = _chinese_left(page, mask)
            if left:
                problems[f"{username} {path}"] = left
        # the phone: one page per role at 390 pixels
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + pages[0])
        left = _chinese_left(page, mask)
        if left:
            problems[f"{username} {pages[0]} (390 px)"] = left
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"english-{username}-phone.png"))
        page.set_viewport_size({"width": 1366, "height": 768})
    assert visited >= 30
    report = "\n".join(f"{where}: {texts}" for where, texts in problems.items())
    assert not problems, f"Chinese on English pages:\n{report}"
