"""An iCalendar feed of a user's deadlines, for the calendar on their phone.

A phone's calendar cannot log in, so the feed's URL carries a per-user secret. The secret is
derived (HMAC of the user id keyed by SECRET_KEY) rather than stored: nothing new in the
database, and changing SECRET_KEY revokes every feed at once. A wrong secret is "not found",
like any case outside one's scope.

The file is written by hand (RFC 5545: CRLF lines folded at 75 octets, escaped text): a feed
of all-day events needs no library. Each event's UID is the case, the deadline's kind and its
due date, so a calendar updates an event in place while the due date stands and shows a new
one when the due date moves.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import current_app

from workflow.history import DeadlineStatus
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.rules import REGISTRY
from workflow.services.directory import access
from workflow.services.errors import NotFound
from workflow.services.reports import replays_of
from workflow.states import OPEN_STAGES

STATUS_LABELS = {"upcoming": "未到期", "due": "即将到期", "overdue": "已超期"}
SHOWN = (DeadlineStatus.UPCOMING, DeadlineStatus.DUE, DeadlineStatus.OVERDUE)


def secret(user_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"ical-feed:{user_id}".encode(), hashlib.sha256).hexdigest()[:40]


def feed_code(user_id: int) -> str:
    """What the feed URL carries: the user id (to find the user) and the secret (to prove it)."""
    return f"{user_id}-{secret(user_id)}"


def feed_user(code: str) -> User:
    """The user whose feed this is; NotFound for a wrong secret or an inactive user."""
    user_id, _, given = code.partition("-")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and len(user_id) < 10 else None
    if user is None or not user.active or not hmac.compare_digest(secret(user.id), given):
        raise NotFound("日历不存在")
    return user


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with a leading space, never
    splitting a UTF-8 character."""
    out, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode())
        if size + width > (75 if not out else 74):
            out.append(current)
            current, size = "", 0
        current += ch
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _event(case: Case, d: Any, stamp: str, base_url: str) -> list[str]:
    rule = REGISTRY[d.rule]
    status = STATUS_LABELS[d.status.value]
    who = "上级党委" if d.responsible.value == "committee" else "党支部"
    lines = [
        "BEGIN:VEVENT",
        f"UID:case-{case.id}-{d.kind}-{d.due_on:%Y%m%d}@dangyuan-workflow",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{d.due_on:%Y%m%d}",
        f"DTEND;VALUE=DATE:{d.due_on + timedelta(days=1):%Y%m%d}",
        f"SUMMARY:{_escape(f'【{status}】{case.person_name}：{rule.zh}')}",
        "DESCRIPTION:" + _escape(f"{case.branch.name} · {case.person_name}\n{rule.zh}（{rule.article}）"
                                 f"\n责任方：{who}\n状态：{status}"),
        f"CATEGORIES:{_escape(who)}",
        "TRANSP:TRANSPARENT",
    ]
    if base_url:
        lines.append(f"URL:{base_url.rstrip('/')}/cases/{case.id}")
    return lines + ["END:VEVENT"]


def calendar(user: User, as_of: date, base_url: str = "") -> bytes:
    """The user's scope: every open case's deadlines that are upcoming, due or overdue."""
    scope = access.subtree_ids(user.org_id)
    rows = list(db.session.execute(db.select(Case).where(
        Case.branch_id.in_(scope), Case.stage.in_(OPEN_STAGES)).order_by(Case.id)).scalars())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//dangyuan-workflow//deadlines//ZH",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_escape('发展党员期限 · ' + user.org.name)}",
             "X-WR-TIMEZONE:Asia/Shanghai", "REFRESH-INTERVAL;VALUE=DURATION:PT6H",
             "X-PUBLISHED-TTL:PT6H"]
    by_id = {c.id: c for c in rows}
    for case_id, r in sorted(replays_of(rows, as_of).items()):
        for d in r.deadlines:
            if d.status in SHOWN:
                lines += _event(by_id[case_id], d, stamp, base_url)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()


def people_in(body: bytes) -> int:
    """How many people (cases) a feed names: each event's UID starts with its case id."""
    return len(set(re.findall(rb"^UID:case-(\d+)-", body, flags=re.MULTILINE)))
