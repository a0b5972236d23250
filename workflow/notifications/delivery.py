"""Delivering one outbox row through the configured channels, at least once, never losing it.

The row is the source of truth: `delivered_at` is set only after every channel accepted the
message, a failure is counted on the row (`attempts`, `last_error`) and re-raised for the
caller (the Celery task) to retry with backoff, and a row that exhausted its retries is simply
still undelivered, so the next sweep queues it again. A short lease (`claimed_until`) keeps two
copies of the task (a retry and a re-queue) from sending the same row at the same time.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from workflow import deadlines
from workflow.notifications.backends import configured
from workflow.notifications.base import DeliveryError, Message, Notifier, Recipient
from workflow.notifications.templates import level_label
from workflow.persistence.db import db
from workflow.persistence.models import Case, Notification, Organisation, User, utcnow
from workflow.rules import REGISTRY

ERROR_CHARS = 2000


def undelivered(now: datetime | None = None) -> list[int]:
    """Rows no channel has accepted yet and nobody is delivering right now, oldest first."""
    now = now or utcnow()
    n = Notification
    return list(db.session.execute(
        sa.select(n.id).where(n.delivered_at.is_(None),
                              sa.or_(n.claimed_until.is_(None), n.claimed_until < now))
        .order_by(n.id)).scalars())


def deliver(notification_id: int, notifiers: Sequence[Notifier] | None = None) -> str:
    """Send one row; returns "delivered", "skipped" (already done, or leased by another
    delivery) or "missing"; raises DeliveryError after recording the failure on the row."""
    if not _claim(notification_id):
        exists = db.session.get(Notification, notification_id) is not None
        return "skipped" if exists else "missing"
    row = db.session.get(Notification, notification_id)
    assert row is not None
    message = _message(row)
    try:
        for notifier in notifiers if notifiers is not None else configured(current_app.config):
            notifier.send(message)
    except Exception as exc:
        db.session.rollback()
        _record(notification_id, delivered=False, error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, DeliveryError):
            raise
        raise DeliveryError(str(exc)) from exc
    _record(notification_id, delivered=True)
    return "delivered"


def _claim(notification_id: int) -> bool:
    now = utcnow()
    lease = timedelta(seconds=int(current_app.config.get("ALERT_DELIVERY_LEASE_SECONDS", 600)))
    n = Notification
    done: sa.CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        sa.update(n).where(n.id == notification_id, n.delivered_at.is_(None),
                           sa.or_(n.claimed_until.is_(None), n.claimed_until < now))
        .values(claimed_until=now + lease).execution_options(synchronize_session=False))
    db.session.commit()
    return bool(done.rowcount)


def _record(notification_id: int, *, delivered: bool, error: str | None = None) -> None:
    values: dict[str, Any] = {"attempts": Notification.attempts + 1, "claimed_until": None}
    if delivered:
        values |= {"delivered_at": utcnow(), "last_error": None}
    else:
        values["last_error"] = (error or "")[:ERROR_CHARS]
    db.session.execute(sa.update(Notification).where(Notification.id == notification_id)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.commit()


def recipients(row: Notification) -> tuple[Recipient, ...]:
    """Active users of the responsible organisation, plus the committee's for escalated rows."""
    orgs = {row.org_id} | ({row.escalated_to_id} if row.escalated_to_id else set())
    users = db.session.execute(sa.select(User).where(User.org_id.in_(orgs),
                                                     User.active == sa.true())
                               .order_by(User.id)).scalars()
    return tuple(Recipient(u.username, u.display_name, u.email) for u in users)


def _message(row: Notification) -> Message:
    org = db.session.get(Organisation, row.org_id)
    case = db.session.get(Case, row.case_id)
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    context = {"person": case.person_name if case else "", "rule_label": REGISTRY[row.rule].zh,
               "kind_label": deadlines.label(row.kind),
               "case_url": f"{base}/cases/{row.case_id}" if base else "",
               "level_label": level_label(row.level), "due_on": row.due_on.isoformat(),
               "org_name": org.name if org else "", "case_id": row.case_id,
               "escalated": row.escalated_to_id is not None,
               "responsible_label": "党委" if row.responsible == "committee" else "党支部"}
    orgs = (row.org_id, *((row.escalated_to_id,) if row.escalated_to_id else ()))
    return Message("alert", context, recipients(row), key=f"notification-{row.id}",
                   extra={"notification_id": row.id, "org_ids": orgs})
