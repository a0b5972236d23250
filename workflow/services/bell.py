"""The bell on every page: how many alerts wait for the user's organisation."""
from __future__ import annotations

from workflow.persistence.db import db
from workflow.persistence.models import Notification, User


def unread_count(user: User) -> int:
    query = db.select(db.func.count()).select_from(Notification).where(
        (Notification.org_id == user.org_id) | (Notification.escalated_to_id == user.org_id))
    return int(db.session.execute(query).scalar_one())
