"""Group robots per organisation (the admin's page): add, edit, enable or disable, delete, send
a test message; and the outbox rows whose delivery keeps failing.

A robot's URL carries its key and DingTalk's signing secret signs every message: the views
returned here never hold either (the URL is shown as its host and path, the secret only as
"set"), so no page can show them back.
"""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import current_app

from workflow.notifications import webhooks as robots
from workflow.notifications.base import DeliveryError
from workflow.persistence.db import db
from workflow.persistence.models import (
    Notification,
    Organisation,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from workflow.rules import REGISTRY
from workflow.services.directory import access
from workflow.services.errors import Invalid, NotFound
from workflow.steps import optional_text_problem
from workflow.messages import Message

KINDS = robots.KINDS
NAME_MAX, URL_MAX, SECRET_MAX = 100, 500, 200
PER_ORG_MAX = 10  # a few chats per organisation; more is a mistake, not a configuration
FAILED_SHOWN = 50
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # DingTalk's SEC… secret: printable ASCII, no spaces


def _view(hook: Webhook) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(hook.url)
    return {"id": hook.id, "org_code": hook.org.code, "org_name": hook.org.name,
            "kind": hook.kind, "kind_label": KINDS.get(hook.kind, hook.kind), "name": hook.name,
            "address": f"{parts.scheme}://{parts.netloc}{parts.path}",
            "has_key": bool(parts.query), "secret_set": bool(hook.secret),
            "enabled": hook.enabled, "last_test_at": hook.last_test_at,
            "last_test_result": hook.last_test_result}


def list_hooks(actor: User) -> list[dict[str, Any]]:
    """Every robot, by organisation."""
    access.require_admin(actor)
    rows = db.session.execute(sa.select(Webhook).join(Organisation)
                              .order_by(Organisation.id, Webhook.id)).scalars()
    return [_view(h) for h in rows]


def _hook(hook_id: int) -> Webhook:
    hook = db.session.get(Webhook, hook_id) if 1 <= hook_id <= 2**31 - 1 else None
    if hook is None:
        raise NotFound(Message("群机器人不存在"))
    return hook


def get_hook(actor: User, hook_id: int) -> dict[str, Any]:
    access.require_admin(actor)
    return _view(_hook(hook_id))


def _clean(form: Mapping[str, Any], hook: Webhook | None) -> dict[str, Any]:
    """The validated fields; on an edit, a blank URL or secret keeps the stored one."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    code = form.get("org")
    try:
        values["org_id"] = access.org_by_code(code if isinstance(code, str) else "").id
    except NotFound:
        problems["org"] = "党组织不存在"
    kind = form.get("kind")
    if kind not in KINDS:
        problems["kind"] = Message("类型必须是企业微信或钉钉")
    values["kind"] = kind
    name = form.get("name")
    problem = optional_text_problem(name, NAME_MAX)
    if problem:
        problems["name"] = Message("名称%(problem)s", problem=problem)
    values["name"] = (name or "").strip() if isinstance(name, str) else ""
    url = form.get("url")
    url = url.strip() if isinstance(url, str) else ""
    if url or hook is None:
        problem = ("必填" if not url else Message("不能超过 %(n)d 个字符", n=URL_MAX)
                   if len(url) > URL_MAX else Message("不能包含空格或控制字符")
                   if not _PRINTABLE.fullmatch(url) else None)
        problem = problem or robots.url_problem(
            kind if isinstance(kind, str) else "", url,
            bool(current_app.config.get("WEBHOOK_ALLOW_ANY_HOST")))
        if problem:
            problems["url"] = Message("网址%(problem)s", problem=problem)
        values["url"] = url
    elif "kind" not in problems and robots.url_problem(
            kind, hook.url, bool(current_app.config.get("WEBHOOK_ALLOW_ANY_HOST"))):
        problems["url"] = Message("类型改变后请重新填写该类型机器人的网址")
    secret = form.get("secret")
    secret = secret.strip() if isinstance(secret, str) else ""
    if secret:
        if kind != "dingtalk":
            problems["secret"] = Message("只有钉钉机器人有加签密钥")
        elif len(secret) > SECRET_MAX or not _PRINTABLE.fullmatch(secret):
            problems["secret"] = Message(
                "加签密钥必须是不超过 %(n)d 个字符的字母数字符号，不含空格", n=SECRET_MAX)
        values["secret"] = secret
    elif form.get("clear_secret") == "y" or kind != "dingtalk":
        values["secret"] = None
    if problems:
        raise Invalid(Message("群机器人设置不正确"), problems)
    return values


def _check_room(org_id: int) -> None:
    count = db.session.execute(sa.select(sa.func.count()).select_from(Webhook)
                               .where(Webhook.org_id == org_id)).scalar_one()
    if count >= PER_ORG_MAX:
        raise Invalid(Message("群机器人太多"),
                      {"org": Message("每个党组织最多 %(n)d 个群机器人", n=PER_ORG_MAX)})


def create(actor: User, form: Mapping[str, Any]) -> Webhook:
    """A new robot, enabled. Form fields: org (code), kind, name, url, secret (DingTalk)."""
    access.require_admin(actor)
    values = _clean(form, None)
    _check_room(values["org_id"])
    hook = Webhook(enabled=True, **values)
    db.session.add(hook)
    db.session.commit()
    return hook


def update(actor: User, hook_id: int, form: Mapping[str, Any]) -> Webhook:
    """Change a robot; a blank URL or secret keeps the stored one (the page never has them)."""
    access.require_admin(actor)
    hook = _hook(hook_id)
    values = _clean(form, hook)
    if values["org_id"] != hook.org_id:
        _check_room(values["org_id"])
    for key, value in values.items():
        setattr(hook, key, value)
    hook.updated_at = utcnow()
    db.session.commit()
    return hook


def set_enabled(actor: User, hook_id: int, enabled: bool) -> Webhook:
    access.require_admin(actor)
    hook = _hook(hook_id)
    hook.enabled, hook.updated_at = enabled, utcnow()
    db.session.commit()
    return hook


def delete(actor: User, hook_id: int) -> None:
    """Remove a robot and its record of which rows it accepted."""
    access.require_admin(actor)
    hook = _hook(hook_id)
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    db.session.delete(hook)
    db.session.commit()


def send_test(actor: User, hook_id: int) -> tuple[bool, str]:
    """Post a test message to the robot now (enabled or not), keep its answer on the robot
    and return (accepted, answer)."""
    access.require_admin(actor)
    hook = _hook(hook_id)
    title = "发展党员全程纪实系统：测试消息"
    text = (f"### {title}\n{robots.escape(hook.org.name)}的群机器人已配置成功，"
            "今后到期和逾期提醒将发送到本群。")
    try:
        answer, ok = robots.post(hook, robots.payload(hook.kind, title, text)), True
    except DeliveryError as exc:
        answer, ok = str(exc), False
    result = ("成功：" if ok else "失败：") + answer
    hook.last_test_at, hook.last_test_result = utcnow(), result[:300]
    db.session.commit()
    return ok, result


def failed_deliveries(actor: User, limit: int = FAILED_SHOWN) -> list[dict[str, Any]]:
    """The newest outbox rows still undelivered after a failed attempt (any channel)."""
    access.require_admin(actor)
    n = Notification
    rows = db.session.execute(
        sa.select(n, Organisation.name).join(Organisation, Organisation.id == n.org_id)
        .where(n.delivered_at.is_(None), n.last_error.is_not(None))
        .order_by(n.id.desc()).limit(limit)).all()
    return [{"id": r.id, "case_id": r.case_id, "org_name": org_name,
             "rule_label": REGISTRY[r.rule].zh if r.rule in REGISTRY else r.rule,
             "due_on": r.due_on.isoformat(), "level": r.level, "attempts": r.attempts,
             "last_error": r.last_error} for r, org_name in rows]
