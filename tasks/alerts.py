"""Alert tasks: the daily sweep, the delivery of one outbox row, the rebuild of deadline rows
marked stale, the broker cleanup.

All of them are safe to run twice (the sweep and delivery are idempotent on the outbox rows), so
they acknowledge late: a worker killed mid-task leaves the message to be redelivered where the
broker can (Redis after its visibility timeout), and the next daily sweep covers the rest.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from celery import Task, shared_task
from flask import current_app

from workflow.notifications import delivery
from workflow.notifications.base import DeliveryError
from workflow.services import alerts
from workflow.services.clock import today


@shared_task(name="tasks.sweep", ignore_result=False, acks_late=True)
def sweep(as_of: str | None = None) -> dict[str, Any]:
    """The same scan as `flask alerts scan`, then queue every undelivered row for delivery
    (new ones, and old ones whose retries ran out: the outbox is never given up on)."""
    day = date.fromisoformat(as_of) if as_of else today()
    config = current_app.config
    summary = alerts.scan(day, pause=float(config.get("ALERT_SWEEP_PAUSE", 0)),
                          chunk=int(config.get("ALERT_SWEEP_CHUNK", alerts.SWEEP_CHUNK)))
    pending = delivery.undelivered()
    for notification_id in pending:
        deliver.delay(notification_id)
    summary["queued"] = len(pending)
    return summary


@shared_task(name="tasks.deliver", bind=True, acks_late=True, max_retries=None)
def deliver(self: Task, notification_id: int) -> str:
    """Deliver one row; on failure retry after base * 2**n seconds (capped), up to the
    configured number of retries. The failure is already recorded on the row."""
    try:
        return delivery.deliver(notification_id)
    except DeliveryError as exc:
        config = current_app.config
        if self.request.retries >= int(config.get("ALERT_DELIVERY_MAX_RETRIES", 8)):
            return "undelivered"  # the row stays; the next sweep queues it again
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, config)) from exc


def backoff(retries: int, config: Any) -> float:
    base = float(config.get("ALERT_DELIVERY_BACKOFF", 60))
    cap = float(config.get("ALERT_DELIVERY_BACKOFF_MAX", 3600))
    return float(min(cap, base * 2 ** retries))


@shared_task(name="tasks.rebuild_stale_deadlines", ignore_result=False, acks_late=True)
def rebuild_stale_deadlines() -> int:
    """Rebuild the deadline rows a rule-setting or holiday change marked stale (beat runs it
    every few minutes; a no-op costing one indexed query when nothing is stale)."""
    return alerts.rebuild_stale()


@shared_task(name="tasks.cleanup_broker", bind=True)
def cleanup_broker(self: Task, older_than_seconds: float = 3600) -> int:
    """Delete delivered messages from the embedded SQL broker; other brokers clean up alone."""
    from tasks.broker import Transport, purge_delivered
    with self.app.connection_for_write() as conn:
        if not isinstance(conn.transport, Transport):
            return 0
        return purge_delivered(conn.default_channel, timedelta(seconds=older_than_seconds))
