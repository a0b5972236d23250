"""Shared fixtures: one app per session on a real database, emptied between tests.

The database is SQLite in a temporary instance folder unless DATABASE_URL names another one
(scripts/test runs the `db` tests again on a throwaway PostgreSQL cluster that way).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

# Hypothesis without its per-example deadline (200 ms by default): the suite runs on two
# shared cores, where a slow example says nothing about the code, and no test of ours asserts
# speed. "dev" (the default) explores new examples on every run and keeps failing ones in
# .hypothesis/; "ci" (CI=true) tries the same examples on every run (derandomize, no
# database: a fresh machine has none to replay) and prints the blob that reproduces a failure.
# HYPOTHESIS_PROFILE picks one explicitly. A test's own @settings only says what differs
# (how many examples, which health checks), never the deadline.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, database=None,
                                     print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"))


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    os.environ["INSTANCE_PATH"] = str(instance)
    os.environ.setdefault("APP_ENV", "testing")
    from flask_migrate import upgrade

    from workflow.app import create_app
    app = create_app({"TESTING": True, "UPLOAD_DIR": str(instance / "uploads"),
                      "MAX_CONTENT_LENGTH": 256 * 1024})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from workflow.persistence.db import db
        db.engine.dispose()


from workflow.persistence.db import db  # noqa: E402


def _empty_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for t in tables:
            db.session.execute(t.delete())
    db.session.commit()


@pytest.fixture
def ctx(app):
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()


@pytest.fixture
def client(ctx):
    return ctx.test_client()


@pytest.fixture(autouse=True)
def _shared_limiter_restored():
    """Flask-Limiter's limiter is one object shared by every app: a test that builds an app
    with rate limits on (test_security) switches it on for all the tests after it. Each test
    leaves it as it found it, so the order of test files does not change what they see."""
    from workflow.web.security import limiter
    before = limiter.enabled
    yield
    limiter.enabled = before
