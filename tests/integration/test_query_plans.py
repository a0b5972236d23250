"""No page or report reads every step record to find a few cases: at 1,000,000 cases (13
million step records) such a read made the case page of a voted case wait 9–22 s
(docs/performance.md, eighth round). Every statement on `step_records` that these requests run
is asked for its plan (SQLite's EXPLAIN QUERY PLAN): none may scan the table or a whole index.
(It guards the index; whether a query is an IN or a correlated EXISTS, SQLite plans both well
with it.)

SQLite only: PostgreSQL's planner is cost-based and rightly scans the tiny tables of a test;
the indexes and the queries' shapes, which this checks, are the same on both."""
from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.helpers import drive, open_case, plan_year
from tests.unit.builders import HAPPY
from workflow.persistence.db import db

pytestmark = pytest.mark.db


def _statements(run: Any) -> list[tuple[str, Any]]:
    """The SELECTs on step_records that `run()` sends to the database."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "step_records" in statement:
            seen.append((statement, parameters))
    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return seen


# a scan of the table or of a whole index ("SCAN TABLE" before SQLite 3.36), or a temporary
# index built from the whole table
_FULL = re.compile(r"^SCAN (TABLE )?step_records\b|step_records USING AUTOMATIC")


def _full_scans(statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for statement, parameters in statements:
        plan = db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters).all()
        found += [(row[3], statement) for row in plan if _FULL.search(str(row[3]))]
    db.session.rollback()
    return found


def test_pages_and_reports_find_cases_by_step_through_an_index(world):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    plan_year(world)
    voted = open_case(world)
    drive(world, voted["id"], HAPPY, until="admission_voted")
    requests = [("sec1", f"/api/v1/cases/{voted['id']}"),  # asks whether the vote was over plan
                ("org", "/api/v1/pre-reviews?status=decided"),
                ("org", "/api/v1/plans?year=2024"),
                ("org", "/api/v1/rubric?org=B1&year=2024")]

    for who, url in requests:
        def run(who: str = who, url: str = url) -> None:
            r = world.get(who, url)
            assert r.status_code == 200, (url, r.json)
        statements = _statements(run)
        assert any("step = ?" in s for s, _ in statements), \
            f"{url} no longer looks cases up by step: this test checks nothing there"
        assert _full_scans(statements) == [], url
