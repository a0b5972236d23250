"""The group-robot channel: an alert posted into a WeCom (企业微信) or DingTalk (钉钉) group chat.

Each organisation may configure robots (table `webhooks`, managed by
services.directory.webhooks); an outbox row goes to the enabled robots of its organisation and,
once escalated, of the committee it was escalated to. A robot's answer with `errcode` other
than 0, an HTTP error or a timeout is a failure like an SMTP one: `delivery` records it on the
row and the task retries. `webhook_deliveries` remembers which robots accepted a row, so the
retry that a failing robot causes posts nothing twice into the chats that already have it.

Standard library only (urllib): two JSON POSTs need no HTTP client dependency. Redirects are
refused, so a robot URL can never forward the message (or the signature) to another host.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from flask import current_app

from workflow.notifications.base import DeliveryError, Message, Notifier
from workflow.notifications.templates import render
from workflow.persistence.db import db
from workflow.persistence.models import Webhook, WebhookDelivery
from workflow.messages import Message

log = logging.getLogger("workflow.notifications")
TIMEOUT = 10  # seconds: a hung robot must fail the attempt, not hold the worker
ANSWER_BYTES = 64 * 1024  # a robot answers a few dozen bytes; never read an unbounded body
KINDS = {"wecom": "企业微信", "dingtalk": "钉钉"}
HOSTS = {"wecom": "qyapi.weixin.qq.com", "dingtalk": "oapi.dingtalk.com"}
# Markdown both robots understand, so a name typed with [, ], *, # or < cannot turn the alert
# into a link or a heading: the full-width forms read the same in Chinese text.
_MARKDOWN = str.maketrans("[]()<>*#_`", "［］（）＜＞＊＃＿｀")


def url_problem(kind: str, url: str, allow_any_host: bool = False) -> str | None:
    """Why `url` may not be used for a robot of `kind`, or None. In production: https to the
    robot service's own host on the default port; `allow_any_host` (tests) takes any http(s)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return Message("不是有效的网址")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Message("必须是 https:// 开头的网址")
    if parts.username or parts.password:
        return Message("不能包含用户名或密码")  # said after 网址
    if allow_any_host:
        return None
    if parts.scheme != "https":
        return Message("必须使用 https")
    if parts.hostname != HOSTS.get(kind) or port not in (None, 443):
        return Message("必须指向 %(host)s", host=HOSTS.get(kind, "?"))
    return None


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: HMAC-SHA256 over "timestamp\\nsecret" keyed with the secret, base64."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(hook: Webhook, now_ms: int | None = None) -> str:
    """The URL to post to: DingTalk's with &timestamp=…&sign=… when a secret is set."""
    if hook.kind != "dingtalk" or not hook.secret:
        return hook.url
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    query = urllib.parse.urlencode({"timestamp": stamp, "sign": dingtalk_sign(hook.secret, stamp)})
    return f"{hook.url}{'&' if '?' in hook.url else '?'}{query}"


def payload(kind: str, title: str, text: str) -> dict[str, Any]:
    """The robot's markdown message."""
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


def describe(hook: Webhook) -> str:
    """How errors name a robot: never its URL, which carries the robot's key."""
    host = urllib.parse.urlsplit(hook.url).hostname or "?"
    return f"{KINDS.get(hook.kind, hook.kind)}机器人 #{hook.id}（{host}）"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx answer


_opener = urllib.request.build_opener(_NoRedirect)


def post(hook: Webhook, body: Mapping[str, Any]) -> str:
    """POST one message to one robot; returns the robot's `errmsg` when it accepted it, raises
    DeliveryError (naming the robot, never its URL or secret) otherwise."""
    who = describe(hook)
    problem = url_problem(hook.kind, hook.url,
                          bool(current_app.config.get("WEBHOOK_ALLOW_ANY_HOST")))
    if problem:
        raise DeliveryError(f"{who}: 地址不被允许（{problem}）")
    request = urllib.request.Request(
        signed_url(hook), data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT) as answer:
            raw = answer.read(ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{who}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{who}: {reason}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DeliveryError(f"{who}: 应答不是 JSON") from None
    if not isinstance(data, dict) or data.get("errcode") != 0:
        code = data.get("errcode") if isinstance(data, dict) else None
        message = str(data.get("errmsg", "") if isinstance(data, dict) else "")[:200]
        raise DeliveryError(f"{who}: errcode {code} {message}".rstrip())
    return str(data.get("errmsg") or "ok")[:200]


def escape(text: str) -> str:
    """A free text (a name) as plain text inside the robots' markdown."""
    return text.translate(_MARKDOWN)


def robot_text(context: Mapping[str, Any]) -> tuple[str, str]:
    """(title, markdown) of an alert; free texts cannot inject markdown."""
    safe = {k: escape(v) if isinstance(v, str) and k != "case_url" else v
            for k, v in context.items()}
    return render("alert_robot", safe)


def hooks_for(org_ids: Iterable[int]) -> list[Webhook]:
    """The enabled robots of these organisations."""
    return list(db.session.execute(
        sa.select(Webhook).where(Webhook.org_id.in_(set(org_ids)), Webhook.enabled == sa.true())
        .order_by(Webhook.id)).scalars())


class WebhookNotifier(Notifier):
    """Posts the alert to every enabled robot of the row's organisations that has not accepted
    it yet; tries them all, then fails if any failed (the others are not posted again)."""

    name = "webhook"

    def send(self, message: Message) -> None:
        notification_id = message.extra.get("notification_id")
        hooks = hooks_for(message.extra.get("org_ids", ()))
        if not hooks or notification_id is None:
            return
        done = set(db.session.execute(sa.select(WebhookDelivery.webhook_id).where(
            WebhookDelivery.notification_id == notification_id)).scalars())
        title, text = robot_text(message.context)
        failures = []
        for hook in hooks:
            if hook.id in done:
                continue
            try:
                post(hook, payload(hook.kind, title, text))
            except DeliveryError as exc:
                failures.append(str(exc))
                continue
            # committed at once: a later failure (another robot, the mail server) rolls the
            # session back, and this chat must still count as served
            db.session.add(WebhookDelivery(notification_id=notification_id, webhook_id=hook.id))
            db.session.commit()
            log.info("alert %s posted to %s", message.key, describe(hook))
        if failures:
            raise DeliveryError("; ".join(failures))
