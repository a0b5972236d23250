"""Reference data kept per process (persistence/reference.py): the organisation tree, rosters,
rule books and working calendar are read once per change, never served after their rows changed,
whoever changed them, and never kept from a transaction that did not commit."""
from __future__ import annotations

import secrets
from datetime import date

import pytest
import sqlalchemy as sa

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import open_case
from workflow.persistence import reference
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import HolidayOverride, Organisation
from workflow.services.directory import access, admin
from workflow.services import directory

pytestmark = pytest.mark.db
TABLES = {
    "organisations": ("INSERT INTO organisations (code, name, kind) VALUES ('X9', 'x', 'branch')",
                      "UPDATE organisations SET name = 'y' WHERE code = 'X9'",
                      "DELETE FROM organisations WHERE code = 'X9'"),
    "roster_members": ("INSERT INTO roster_members (org_id, name, status, since)"
                       " SELECT id, '孙丽', 'full', '2001-07-01' FROM organisations"
                       " WHERE code = 'B1'",
                       "UPDATE roster_members SET status = 'full' WHERE name = '孙丽'",
                       "DELETE FROM roster_members WHERE name = '孙丽'"),
    "rule_settings": ("INSERT INTO rule_settings (org_id, key, value, effective_from, created_at)"
                      " SELECT id, 'notice_working_days', '7', '2025-01-01', '2025-01-01'"
                      " FROM organisations WHERE code = 'C'",
                      "UPDATE rule_settings SET value = '8'",
                      "DELETE FROM rule_settings"),
    "holiday_overrides": ("INSERT INTO holiday_overrides (day, is_workday, note)"
                          " VALUES ('2031-01-04', true, 'x')",
                          "UPDATE holiday_overrides SET is_workday = false",
                          "DELETE FROM holiday_overrides"),
}


def _stamp() -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT value FROM reference_stamps WHERE id = 1"))
                   .scalar_one())


def _by_hand(sql: str) -> None:
    """A statement run outside the application, as a DBA's fix would be."""
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql))


def _id(code: str) -> int:
    return int(db.session.execute(sa.select(Organisation.id).filter_by(code=code)).scalar_one())


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_statement_that_changes_a_reference_table_changes_the_stamp(world, table):
    for sql in TABLES[table]:
        before = _stamp()
        _by_hand(sql)
        assert _stamp() != before, sql


def test_an_organisation_moved_by_hand_moves_access_at_once(world):
    case = open_case(world)["id"]
    assert world.get("org", f"/api/v1/cases/{case}").status_code == 200  # kept: B1 under C
    assert world.get("org2", f"/api/v1/cases/{case}").status_code == 404
    _by_hand("UPDATE organisations SET parent_id = (SELECT id FROM organisations "
             "WHERE code = 'C2') WHERE code = 'B1'")
    assert world.get("org", f"/api/v1/cases/{case}").status_code == 404
    assert world.get("org2", f"/api/v1/cases/{case}").status_code == 200


def test_a_rule_setting_is_in_force_in_the_next_transaction(world):
    b1 = _id("B1")
    day = date(2025, 6, 1)
    assert repo.rulebook_for(b1).on(day).settings["notice_working_days"] == 5
    db.session.commit()
    admin.add_setting(directory.user_for_token(world.tokens["admin"]), "C",
                      "notice_working_days", 7, "2025-01-01")
    assert repo.rulebook_for(b1).on(day).settings["notice_working_days"] == 7


def test_kept_values_are_read_once_per_change(world):
    b1, c = _id("B1"), _id("C")
    _by_hand("UPDATE organisations SET name = name WHERE code = 'C'")  # nothing kept yet
    statements: list[str] = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        for _ in range(3):
            repo.ancestors(b1), repo.rulebook_for(b1), repo.working_calendar()
            access.subtree_ids(c)
            db.session.commit()
        first = len(statements)
        _by_hand("INSERT INTO holiday_overrides (day, is_workday, note) "
                 "VALUES ('2031-01-04', true, 'x')")
        statements.clear()
        calendar = repo.working_calendar()
        read_again = list(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    # the first transaction reads the stamp, the chain, the settings, the holidays and the
    # subtree; the next two only the stamp
    assert first == 5 + 2
    assert calendar.is_workday(date(2031, 1, 4)) is True  # a Saturday, made a working day
    assert len(read_again) == 2 and "holiday_overrides" in read_again[1]


def test_a_change_that_was_rolled_back_is_never_served(world):
    b1 = _id("B1")
    db.session.commit()
    saturday = date(2025, 1, 4)  # a weekend day the official calendar knows
    repo.ancestors(b1)  # the transaction has read the stamp before it writes
    db.session.add(HolidayOverride(day=saturday, is_workday=True, note="x"))
    db.session.flush()
    assert repo.working_calendar().is_workday(saturday) is True  # this transaction sees it
    db.session.rollback()
    assert repo.working_calendar().is_workday(saturday) is False  # nobody else ever does


def test_a_pending_change_flushed_while_building_is_never_kept(world):
    b1 = _id("B1")
    db.session.commit()
    saturday = date(2025, 1, 4)
    repo.ancestors(b1)  # the transaction has read the stamp
    db.session.add(HolidayOverride(day=saturday, is_workday=True, note="x"))  # pending
    assert repo.working_calendar().is_workday(saturday) is True  # its query autoflushed it
    db.session.rollback()
    assert repo.working_calendar().is_workday(saturday) is False


def test_a_change_in_a_savepoint_rolled_back_is_never_served(world):
    b1 = _id("B1")
    db.session.commit()
    saturday = date(2025, 1, 4)
    repo.ancestors(b1)
    with db.session.begin_nested() as savepoint:
        db.session.add(HolidayOverride(day=saturday, is_workday=True, note="x"))
        db.session.flush()
        assert repo.working_calendar().is_workday(saturday) is True
        savepoint.rollback()
    assert repo.working_calendar().is_workday(saturday) is False  # same transaction, after it
    db.session.commit()
    assert repo.working_calendar().is_workday(saturday) is False  # and the next one


def test_without_the_stamp_row_nothing_is_kept_and_everything_still_works(world):
    b1 = _id("B1")
    _by_hand("DELETE FROM reference_stamps")
    try:
        reference.forget()
        assert reference.stamp() is None
        assert repo.ancestors(b1) == [b1, _id("C")]
        assert repo.rulebook_for(b1).on(date(2025, 6, 1)).settings["notice_working_days"] == 5
    finally:
        _by_hand(f"INSERT INTO reference_stamps (id, value) VALUES (1, {secrets.randbits(62)})")


def test_autogenerate_finds_nothing_to_change_and_keeps_the_stamp_table(ctx):
    """The models match the migrations, and `reference_stamps` (not a model, on purpose) is
    not proposed for dropping (migrations/env.py: include_object)."""
    result = ctx.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
