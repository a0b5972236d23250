"""The in-app channel: a user's inbox is the outbox rows addressed to their organisation, plus
the overdue branch items escalated to it (committee users), with per-user read marks.

One row reaches several users, so "read" cannot be a column on the row; it is a row in
`notification_reads` per (user, notification).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from workflow.persistence.db import db
from workflow.persistence.models import Case, Notification, NotificationRead, User

DEFAULT_LIMIT = 50


def _visible(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(Notification.org_id == user.org_id, Notification.escalated_to_id == user.org_id)


def _read_by(user: User) -> sa.Exists:
    return sa.exists().where(NotificationRead.notification_id == Notification.id,
                             NotificationRead.user_id == user.id)


def inbox(user: User, unread_only: bool = False, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """The user's alerts, newest first, each with `read` for this user."""
    read = _read_by(user)
    query = (sa.select(Notification, Case.person_name, read.label("read"))
             .join(Case, Case.id == Notification.case_id).where(_visible(user)))
    if unread_only:
        query = query.where(~read)
    rows = db.session.execute(query.order_by(Notification.created_on.desc(),
                                             Notification.id.desc()).limit(limit)).all()
    return [_view(n, person, bool(is_read), user) for n, person, is_read in rows]


def unread_count(user: User) -> int:
    """For the bell on every page."""
    return int(db.session.execute(sa.select(sa.func.count()).select_from(Notification)
                                  .where(_visible(user), ~_read_by(user))).scalar_one())


def mark_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the given alerts (all of the user's unread ones when `ids` is None) as read by this
    user; ids the user cannot see are ignored. Returns how many became read. Commits."""
    query = sa.select(Notification.id).where(_visible(user), ~_read_by(user))
    if ids is not None:
        wanted = {int(i) for i in ids}
        if not wanted:
            return 0
        query = query.where(Notification.id.in_(wanted))
    fresh = list(db.session.execute(query).scalars())
    db.session.add_all(NotificationRead(user_id=user.id, notification_id=i) for i in fresh)
    try:
        db.session.commit()
    except sa_exc.IntegrityError:  # the same user marked them at the same time (two tabs)
        db.session.rollback()
        return 0
    return len(fresh)


def _view(n: Notification, person: str, read: bool, user: User) -> dict[str, Any]:
    return {"id": n.id, "case_id": n.case_id, "person": person, "rule": n.rule, "kind": n.kind,
            "due_on": n.due_on.isoformat(), "level": n.level, "responsible": n.responsible,
            "message": n.message, "created_on": n.created_on.isoformat(), "read": read,
            "escalated": n.escalated_to_id == user.org_id and n.org_id != user.org_id}
