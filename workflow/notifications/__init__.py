"""Notifications: how an alert outbox row reaches people.

The outbox row itself is the in-app notification (shown in a user's inbox, read per user);
`delivery` hands the same row to the outside channels configured (e-mail via SMTP when
MAIL_SERVER is set, else the console log for development) and records the outcome on the row.
"""
from __future__ import annotations

from workflow.notifications.base import Message, Notifier, Recipient

__all__ = ["Message", "Notifier", "Recipient"]
