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
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from workflow.services.errors import BadRequest
from workflow.steps import parse_date

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


def server_local_now() -> datetime:
    """The server's own naive local time, for stores that stamp rows with it (kombu's SQL
    broker: `onupdate=datetime.now`); never a date people see, which is `today()`'s."""
    return datetime.now()


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


AS_OF_AHEAD = timedelta(days=3653)  # ten years: replaying a case runs its deadlines up to it


def as_of(raw: str | None) -> date:
    """The "as of" date a request asks for (a case, the alerts, a report): today when absent,
    else a YYYY-MM-DD date from 1900 to no more than ten years after today. A date centuries
    ahead took seconds of deadline arithmetic before it overflowed."""
    if raw is None:
        return today()
    day = parse_date(raw)
    if day is None:
        raise BadRequest("as_of 必须是 1900–2100 年间 YYYY-MM-DD 格式的日期",
                         fields={"as_of": "日期格式不正确"})
    if day > today() + AS_OF_AHEAD:
        raise BadRequest("as_of 不能晚于今天之后十年", fields={"as_of": "不能晚于今天之后十年"})
    return day
