"""An iCalendar feed of a user's deadlines, for the calendar on their phone.

A phone's calendar cannot log in, so the feed's URL carries a per-user secret. The secret is
derived (HMAC of the user id keyed by SECRET_KEY) rather than stored: nothing new in the
database, and changing SECRET_KEY revokes every feed at once. A wrong secret is "not found",
like any case outside one's scope.

The file is written by the `icalendar` library, which escapes text (a person's name may hold
`,` `;` `\\` or line breaks: they stay text, never a new property), folds lines at 75 octets
and ends them with CRLF (RFC 5545). Each event's UID is the case, the deadline's kind and its
due date, so a calendar updates an event in place while the due date stands and shows a new
one when the due date moves.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from icalendar import Calendar, Event, vText

from workflow.citations import article_text
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
UID_CASE = re.compile(r"case-(\d+)-")


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


def _event(case: Case, d: Any, stamp: datetime, base_url: str) -> Event:
    rule = REGISTRY[d.rule]
    status = STATUS_LABELS[d.status.value]
    who = "上级党委" if d.responsible.value == "committee" else "党支部"
    event = Event()
    event.add("uid", f"case-{case.id}-{d.kind}-{d.due_on:%Y%m%d}@dangyuan-workflow")
    event.add("dtstamp", stamp)
    event.add("dtstart", d.due_on)  # a date: VALUE=DATE, an all-day event
    event.add("dtend", d.due_on + timedelta(days=1))
    event.add("summary", f"【{status}】{case.person_name}：{rule.zh}")
    event.add("description", f"{case.branch.name} · {case.person_name}\n"
                             f"{rule.zh}（{article_text(rule.article)}）\n责任方：{who}\n状态：{status}")
    event.add("categories", [who])
    event.add("transp", "TRANSPARENT")
    if base_url:
        event.add("url", f"{base_url.rstrip('/')}/cases/{case.id}")
    return event


def calendar(user: User, as_of: date, base_url: str = "") -> bytes:
    """The user's scope: every open case's deadlines that are upcoming, due or overdue."""
    scope = access.subtree_ids(user.org_id)
    rows = list(db.session.execute(db.select(Case).where(
        Case.branch_id.in_(scope), Case.stage.in_(OPEN_STAGES)).order_by(Case.id)).scalars())
    stamp = datetime.now(UTC).replace(microsecond=0)
    cal = Calendar()
    cal.add("prodid", "-//dangyuan-workflow//deadlines//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # X- properties have no registered type, so the library would write a plain str as is:
    # vText makes it escape them like any text
    cal.add("x-wr-calname", vText("发展党员期限 · " + user.org.name))
    cal.add("x-wr-timezone", vText("Asia/Shanghai"))
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vText("PT6H"))
    by_id = {c.id: c for c in rows}
    for case_id, r in sorted(replays_of(rows, as_of).items()):
        for d in r.deadlines:
            if d.status in SHOWN:
                cal.add_component(_event(by_id[case_id], d, stamp, base_url))
    return cal.to_ical()


def people_in(body: bytes) -> int:
    """How many people (cases) a feed names: each event's UID starts with its case id."""
    uids = (str(e.get("uid", "")) for e in Calendar.from_ical(body).walk("VEVENT"))
    return len({m.group(1) for m in map(UID_CASE.match, uids) if m})
