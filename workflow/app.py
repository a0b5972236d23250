"""The application factory: extensions created unbound elsewhere are bound here."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

import config as settings
from workflow.extensions import login_manager, migrate
from workflow.persistence.db import db

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
MAX_ID = 2**31 - 1  # PostgreSQL INTEGER; larger ids in a URL are simply not found


class IdConverter(IntegerConverter):
    """`<int:…>` in our routes: a positive database id, never one that overflows a column."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    conf = settings.load()
    app = Flask(__name__, instance_path=conf.INSTANCE_PATH, instance_relative_config=True,
                template_folder=str(settings.ROOT / "templates"),
                static_folder=str(settings.ROOT / "static"))
    app.config.from_object(conf)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(overrides or {})
    app.url_map.converters["int"] = IdConverter
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _engine_options(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    login_manager.init_app(app)
    app.extensions["workflow.factory"] = create_app  # report processes build their app with it
    app.extensions["workflow.bulk_sender"] = _bulk_sender  # a large report's chunks go with it
    _register(app)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:  # behind nginx: the client's address and scheme come from its X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies)
    return app


def _bulk_sender(app: Flask) -> Any:
    """What sends a bulk run's chunks to the Celery workers (None: do them here); imported
    only when a large report needs it, so a page never loads Celery for nothing."""
    from tasks.bulk import sender
    return sender(app)


def _engine_options(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL + NORMAL: several times the commit rate of the default journal (architecture.md)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _register(app: Flask) -> None:
    from workflow import cli
    from workflow.api import api
    from workflow.persistence.models import User
    from workflow.services import directory

    @login_manager.user_loader
    def load_user(session_key: str) -> User | None:
        """What the cookie carries is a login session's key, not a user id (User.get_id): one
        query finds the session (not ended, not idle too long), its active user and, read
        along because every page asks first, the reference stamp."""
        return directory.session_user(session_key)

    app.register_blueprint(api)
    cli.register(app)
    from workflow.web import register as register_web
    register_web(app)
