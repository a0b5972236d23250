"""The admin's and the plans' forms, refused: the page comes back with what was typed (never a
password or a robot's secret), the reason in the page's language (no Chinese on an English
page but people's and organisations' own data), the refusal's status, and nothing changed."""
from __future__ import annotations

import html
import re

import pytest

from tests.integration.conftest import PASSWORD, world  # noqa: F401  (fixture)
from tests.web.test_pages import _csrf, login
from workflow.persistence.db import db
from workflow.persistence.models import (HolidayOverride, PlanMeasure, PlanVersionRow,
                                         RosterMember, RuleSetting, User, Webhook)

pytestmark = pytest.mark.db

HAN = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# what was typed or stored: data, not words of the page
DATA = ("第一党支部", "测试党委", "新人甲", "调休说明", "群一", "张三", "李四")


def _post(client, page: str, url: str, form: dict[str, str]):
    return client.post(url, data={"csrf_token": _csrf(client.get(page).text), **form})


def _errors(page: str) -> list[str]:
    return [html.unescape(m) for m in
            re.findall(r'<p class="flash error" role="alert"[^>]*>(.*?)</p>', page, re.DOTALL)]


def _value(page: str, name: str) -> str | None:
    """The value a named input, textarea or select of the page holds."""
    for tag in re.findall(rf'<input[^>]*\bname="{name}"[^>]*>', page):
        if 'type="hidden"' in tag or 'type="checkbox"' in tag and " checked" not in tag:
            continue
        found = re.search(r'\bvalue="([^"]*)"', tag)
        return html.unescape(found.group(1)) if found else ""
    area = re.search(rf'<textarea[^>]*\bname="{name}"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    if area:
        return html.unescape(area.group(1))
    select = re.search(rf'<select[^>]*\bname="{name}"[^>]*>(.*?)</select>', page, re.DOTALL)
    if select:
        chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1))
        return chosen.group(1) if chosen else None
    return None


def _said(r, status: int, lang: str, *expected: str) -> str:
    """The refusal's status, one error message saying each `expected` part, and in English no
    Chinese in it but the data."""
    assert r.status_code == status, r.text[:2000]
    errors = _errors(r.text)
    assert len(errors) == 1, errors
    for part in expected:
        assert part in errors[0], errors[0]
    if lang == "en":
        text = errors[0]
        for data in DATA:
            text = text.replace(data, "")
        assert not HAN.search(text), errors[0]
    return r.text


def _count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


@pytest.fixture(params=["zh", "en"])
def lang(request):
    return request.param


def test_a_refused_new_user_keeps_what_was_typed_but_the_password(world, lang):
    login(world.client, "admin")
    world.client.get(f"/lang/{lang}")
    users = _count(User)
    typed = {"username": "newbie-x", "display_name": "新人甲", "password": "short1",
             "role": "auditor", "org": "B1", "shared": "y"}
    page = _said(_post(world.client, "/admin/users", "/admin/users", typed), 422, lang,
                 "密码不符合要求" if lang == "zh" else "password", "10")
    assert (_value(page, "username"), _value(page, "display_name")) == ("newbie-x", "新人甲")
    assert (_value(page, "role"), _value(page, "org"), _value(page, "shared")) == \
        ("auditor", "B1", "y")
    assert _value(page, "password") == "" and "short1" not in page

    page = _said(_post(world.client, "/admin/users", "/admin/users",
                       {**typed, "username": "sec1", "password": PASSWORD}), 422, lang, "sec1")
    page = _said(_post(world.client, "/admin/users", "/admin/users",
                       {**typed, "password": "password12345"}), 422, lang)
    assert _count(User) == users


def test_a_refused_setting_holiday_and_robot_keep_what_was_typed(world, lang):
    login(world.client, "admin")
    world.client.get(f"/lang/{lang}")
    page = _said(_post(world.client, "/admin/settings", "/admin/settings",
                       {"org": "B1", "key": "oath_window_months", "value": "30",
                        "effective_from": "2024-05-01"}), 422, lang, "24")
    assert (_value(page, "org"), _value(page, "key"), _value(page, "value"),
            _value(page, "effective_from")) == ("B1", "oath_window_months", "30", "2024-05-01")
    assert _count(RuleSetting) == 0

    page = _said(_post(world.client, "/admin/holidays", "/admin/holidays",
                       {"day": "2024-02-30", "is_workday": "y", "note": "调休说明"}), 422, lang)
    assert (_value(page, "day"), _value(page, "is_workday"), _value(page, "note")) == \
        ("2024-02-30", "y", "调休说明")
    page = _said(_post(world.client, "/admin/holidays", "/admin/holidays",
                       {"day": "2024-02-10", "note": "长" * 300}), 422, lang, "200")
    assert _count(HolidayOverride) == 0

    typed = {"org": "B2", "kind": "dingtalk", "name": "群一", "url": "ftp://example.org/x",
             "secret": "SECsecret"}
    page = _said(_post(world.client, "/admin/webhooks", "/admin/webhooks", typed), 422, lang)
    assert (_value(page, "org"), _value(page, "kind"), _value(page, "name")) == \
        ("B2", "dingtalk", "群一")
    # a robot's address holds its access key: typed again, as the secret is
    assert _value(page, "url") == "" and "example.org/x" not in page
    assert _value(page, "secret") == "" and "SECsecret" not in page
    assert _count(Webhook) == 0


def test_a_refused_robot_edit_keeps_what_was_typed(world, lang, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "WEBHOOK_ALLOW_ANY_HOST", True)
    login(world.client, "admin")
    world.client.get(f"/lang/{lang}")
    r = _post(world.client, "/admin/webhooks", "/admin/webhooks",
              {"org": "B1", "kind": "wecom", "name": "old", "url": "https://example.org/hook"})
    assert r.status_code == 302
    hook = db.session.execute(db.select(Webhook)).scalar_one()
    url = f"/admin/webhooks/{hook.id}"
    page = _said(_post(world.client, url, url, {"org": "B2", "kind": "wecom", "name": "群一",
                                               "url": "not a url"}), 422, lang)
    assert (_value(page, "org"), _value(page, "name"), _value(page, "url")) == ("B2", "群一", "")
    db.session.expire_all()
    assert (hook.name, hook.org.code) == ("old", "B1")


def test_a_refused_roster_member_keeps_what_was_typed(world, lang):
    login(world.client, "sec1")
    world.client.get(f"/lang/{lang}")
    members = _count(RosterMember)
    page = _said(_post(world.client, "/admin/roster/B1", "/admin/roster/B1",
                       {"name": "张三", "status": "probationary", "since": "1900-01-01"}),
                 422, lang, "1921-01-01", "自" if lang == "zh" else "Since")
    assert (_value(page, "name"), _value(page, "status"), _value(page, "since")) == \
        ("张三", "probationary", "1900-01-01")
    assert _count(RosterMember) == members


def _plan(world) -> int:
    r = world.post("org", "/api/v1/plans", {"org": "B1", "year": 2024, "quota": 2})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def test_refused_plan_forms_keep_what_was_typed(world, lang, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", "2024-11-15")
    login(world.client, "org")
    world.client.get(f"/lang/{lang}")
    page = _said(_post(world.client, "/plans?year=2024", "/plans/new",
                       {"org": "B2", "year": "2024", "quota": "5", "target_women": "9"}),
                 422, lang)
    row = re.search(r'<tr data-org="B2">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "<details class=\"set-plan\" open>" in row
    assert (_value(row, "quota"), _value(row, "target_women")) == ("5", "9")
    assert "2024" in page and _count(PlanVersionRow) == 0

    plan = _plan(world)
    for back, page_url in (("table", "/plans?year=2024"), ("plan", f"/plans/{plan}")):
        page = _said(_post(world.client, page_url, f"/plans/{plan}/adjust",
                           {"version": "1", "back": back, "quota": "4", "reason": "少"}),
                     422, lang, "4")
        form = re.search(rf'<form method="post" action="/plans/{plan}/adjust">(.*?)</form>',
                         page, re.DOTALL).group(1)
        assert (_value(form, "quota"), _value(form, "reason")) == ("4", "少")
        assert '<details class="adjust-plan" open>' in page
    r = world.post("org", f"/api/v1/plans/{plan}/adjustments",
                   {"quota": 3, "reason": "支部人数变化", "version": 1})
    assert r.status_code == 201, r.json
    page = _said(_post(world.client, f"/plans/{plan}", f"/plans/{plan}/adjust",
                       {"version": "1", "back": "plan", "quota": "4", "reason": "按新情况调整"}),
                 409, lang, "2")
    assert _value(page, "reason") == "按新情况调整"
    assert _count(PlanVersionRow) == 2

    login(world.client, "sec1")
    world.client.get(f"/lang/{lang}")
    page = _said(_post(world.client, "/plans?year=2024", f"/plans/{plan}/measures",
                       {"back": "table", "text": " ", "owner": "李四", "due_on": "2024-12-31"}),
                 422, lang)
    assert (_value(page, "owner"), _value(page, "due_on")) == ("李四", "2024-12-31")
    assert _count(PlanMeasure) == 0
