"""The Celery app, created from the Flask app (Flask's `celery_init_app` pattern): every task
runs inside the Flask app context, so tasks call the same services, with the same database
session and configuration, as the web pages, the API and the CLI.

Celery settings come from the Flask config keys that start with CELERY_ (CELERY_BROKER_URL →
broker_url), read once in config/. Two translations happen here, where Celery is imported:
a `sqla+…` broker URL selects our fixed SQLAlchemy transport (tasks/broker.py), and beat
schedules given as cron strings become crontab objects.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

SQLA_PREFIXES = ("sqla+", "sqlalchemy+")
FIXED_TRANSPORT = "tasks.broker:Transport"
TASK_MODULES = ["tasks.alerts", "tasks.integrity", "tasks.bulk"]


def celery_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery's lowercase settings from a Flask-style config mapping (pure, for tests too)."""
    settings = {key[len("CELERY_"):].lower(): value for key, value in config.items()
                if key.startswith("CELERY_")}
    url = str(settings.get("broker_url") or "")
    options = dict(settings.get("broker_transport_options") or {})
    for prefix in SQLA_PREFIXES:
        if url.startswith(prefix):
            # Celery prefers the CELERY_BROKER_URL environment variable to `broker_url`, but
            # consults `broker_read_url`/`broker_write_url` first, and those are what its
            # connections use: without them a `sqla+` URL in the environment would bypass us.
            plain = url[len(prefix):]
            settings.update(broker_url=plain, broker_read_url=plain, broker_write_url=plain,
                            broker_transport=FIXED_TRANSPORT)
            if url[len(prefix):].startswith("sqlite"):  # wait for the file lock, do not fail
                options.setdefault("connect_args", {"timeout": 30})
    settings["broker_transport_options"] = options
    settings["beat_schedule"] = {
        name: {**entry, "schedule": _schedule(entry["schedule"])}
        for name, entry in (settings.get("beat_schedule") or {}).items()}
    settings.setdefault("include", TASK_MODULES)
    return settings


def _schedule(value: Any) -> Any:
    """"m h dom mon dow" → crontab; numbers (seconds) and schedule objects pass through."""
    return crontab.from_string(value) if isinstance(value, str) else value


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to `app`; tasks run inside its app context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_settings(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
