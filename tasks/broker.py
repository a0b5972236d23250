"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, with its three known
problems handled.

1. Under SQLAlchemy 2.1 its models use the deprecated `noload` loader, so configuring them warns
   (SADeprecationWarning, an error under our warnings-are-errors tests). The mappers are
   configured once, here, with exactly that warning ignored.
2. It passes every transport option to `create_engine()`, so `polling_interval` (which the
   virtual transport base class reads to decide how long to sleep between empty polls) makes
   the connection fail. Our channel drops the options that are not engine arguments, so
   `broker_transport_options={"polling_interval": …}` works as kombu documents it.
3. It never deletes a delivered message: `_get` marks the row invisible and leaves it.
   `purge_delivered()` deletes invisible rows older than a cutoff (the beat runs it hourly).
   A row turns invisible when a worker takes the message; the worker holds the message in
   memory until it is acknowledged (and re-publishes it on a clean shutdown), so the row is not
   needed after that and the cutoff only leaves room for a slow commit.

Used through `broker_transport = "tasks.broker:Transport"` (tasks/app.py sets it for
`sqla+…` URLs), never by mutating kombu's alias table.
"""
from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.orm import configure_mappers

from workflow.services import clock

NOLOAD_WARNING = r"The ``noload`` loader strategy is deprecated"
# Options that the virtual transport or kombu's channel read themselves, not create_engine().
NOT_ENGINE_OPTIONS = frozenset({
    "queue_tablename", "message_tablename", "callback", "errback", "max_retries",
    "interval_start", "interval_step", "interval_max", "retry_errors", "polling_interval",
    "visibility_timeout",
})


class Channel(kombu_sqla.Channel):
    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)  # declares kombu's Queue/Message models
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NOLOAD_WARNING,
                                    category=SADeprecationWarning)
            configure_mappers()  # the one place kombu's `noload` relationship is set up

    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        options = {k: v for k, v in conninfo.transport_options.items()
                   if k not in NOT_ENGINE_OPTIONS}
        return create_engine(conninfo.hostname, **options)


class Transport(kombu_sqla.Transport):
    Channel = Channel


def purge_delivered(channel: Channel, older_than: timedelta) -> int:
    """Delete messages a worker has taken (invisible) longer than `older_than` ago."""
    message = channel.message_cls
    # kombu stamps the row with the server's naive local time when it turns invisible
    # (onupdate=datetime.now): the cutoff must be in that same clock, not the organisation's day
    cutoff = clock.server_local_now() - older_than
    session = channel.session
    try:
        count = (session.query(message)
                 .filter(message.visible == False, message.sent_at < cutoff)
                 .delete(synchronize_session=False))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return int(count)
