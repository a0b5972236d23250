"""The organisation's clock: today and now in its time zone (`TIMEZONE`, default
Asia/Shanghai), never the server's.

At 07:37 in Beijing on 3 December a server on UTC still says 2 December; a step dated
3 December must not be refused as future, and a deadline due on 3 December is due today. Every
"today" of the services, the Celery tasks and the CLI comes from `today()`; timestamps are
stored in UTC (naive, `persistence.models.utcnow`) and shown through `local()`. `TODAY` pins
the date for demos and tests.
"""
from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The organisation's time zone (the app's `TIMEZONE`; Asia/Shanghai outside an app)."""
    name = current_app.config.get("TIMEZONE") if has_app_context() else None
    return _zone(name or DEFAULT_ZONE)


def now() -> datetime:
    """The current moment in the organisation's time zone (aware)."""
    return datetime.now(zone())


def today() -> date:
    """The organisation's date: pinned by `TODAY`, else the date in its time zone now."""
    pinned = current_app.config.get("TODAY") if has_app_context() else None
    return date.fromisoformat(pinned) if pinned else now().date()


def local(stored: datetime | str | None) -> datetime | None:
    """A stored UTC timestamp (naive, aware or ISO text) in the organisation's time zone."""
    if stored is None or stored == "":
        return None
    if isinstance(stored, str):
        stored = datetime.fromisoformat(stored)
    if stored.tzinfo is None:
        stored = stored.replace(tzinfo=UTC)
    return stored.astimezone(zone())


def day_start_utc(day: date) -> datetime:
    """The UTC moment (naive, as stored) at which `day` begins in the organisation's zone, so
    a date filter on stored timestamps means the organisation's day."""
    return datetime.combine(day, time(), zone()).astimezone(UTC).replace(tzinfo=None)
