"""The inbox: the alerts the bell counts, listed newest first, read one by one or all at once,
each user's reads their own; another branch sees none of them."""
from __future__ import annotations

import re
from datetime import date

import pytest

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import open_case
from tests.unit.builders import PERSON
from tests.web.test_pages import _csrf, login
from workflow.services import alerts

pytestmark = pytest.mark.db


def _bell(html: str) -> int:
    found = re.search(r'class="bell"[^>]*>[^<]*<span class="count"[^>]*>(\d+)<', html)
    assert found, "no bell on the page"
    return int(found.group(1))


@pytest.fixture
def alerted(world):
    """Two applicants whose interviews are due within a week on 2023-03-28."""
    first = open_case(world, date="2023-03-01")
    second = open_case(world, date="2023-03-02", person={**PERSON, "name": "林青"})
    alerts.scan(date(2023, 3, 28))
    return first["id"], second["id"]


def test_the_inbox_lists_what_the_bell_counts_and_clears_it(world, alerted):
    login(world.client, "sec1")
    page = world.client.get("/inbox/").text
    assert _bell(page) == 2
    assert page.count('class="unread"') == 2
    assert "陈晓" in page and "林青" in page and "应派人谈话" in page and "天后到期" in page
    ids = re.findall(r'name="id" value="(\d+)"', page)
    r = world.client.post("/inbox/read", data={"csrf_token": _csrf(page), "id": ids[0]})
    assert r.status_code == 302
    page = world.client.get("/inbox/").text
    assert _bell(page) == 1 and page.count('class="unread"') == 1
    assert page.count('class="read"') == 1
    r = world.client.post("/inbox/read", data={"csrf_token": _csrf(page), "all": "1"})
    page = world.client.get("/inbox/").text
    assert _bell(page) == 0 and 'class="unread"' not in page
    assert "陈晓" in world.client.get("/inbox/").text  # read, still listed
    assert "陈晓" not in world.client.get("/inbox/?show=unread").text


def test_reads_are_per_user_and_scope_holds(world, alerted):
    login(world.client, "sec1")
    page = world.client.get("/inbox/").text
    world.client.post("/inbox/read", data={"csrf_token": _csrf(page), "all": "1"})
    login(world.client, "sec2")
    page = world.client.get("/inbox/").text
    assert _bell(page) == 0 and "陈晓" not in page  # another branch's alerts
    # ids of alerts the user cannot see are ignored
    r = world.client.post("/inbox/read", data={"csrf_token": _csrf(page), "id": "1"})
    assert r.status_code == 302
    assert "已将 0 条提醒标为已读" in world.client.get("/inbox/").text


def test_the_inbox_in_english_names_what_is_due_in_english(world, alerted):
    """The outbox keeps its text in Chinese (e-mail, group robots); the page names the
    deadline and its level in the page's language."""
    from workflow.deadlines import LABELS
    login(world.client, "sec1")
    world.client.get("/lang/en")
    page = world.client.get("/inbox/").text
    assert LABELS["interview_due"][1] in page and LABELS["interview_due"][0] not in page
    assert "天后到期" not in page and re.search(r">due in \d+ days<", page), \
        page[page.index('id="inbox"'):][:1500]
