"""Rows written through the driver's executemany (persistence/driver_many) are stored exactly as
SQLAlchemy's own executemany stores them: the same text for dates, times and JSON on SQLite,
the same values on PostgreSQL, the defaults SQLAlchemy fills in, a statement's own literals."""
from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.test_reports import pin, three_cases  # noqa: F401  (pin: fixture)
from workflow.persistence import driver_many
from workflow.persistence.db import db
from workflow.persistence.driver_many import execute_many
from workflow.persistence.models import DeadlineRow, DeadlineSet
from workflow.services import alerts
from workflow.services.alerts import deadline_rows

pytestmark = pytest.mark.db

counter = itertools.count(100)
PROBE = sa.Table(
    "driver_many_probe", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("day", sa.Date), sa.Column("at", sa.DateTime), sa.Column("flag", sa.Boolean),
    sa.Column("doc", sa.JSON(none_as_null=True)), sa.Column("text", sa.String(40)),
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("serial", sa.Integer, default=lambda: next(counter)))

ROWS = [
    {"day": date(2024, 2, 29), "at": datetime(2026, 12, 3, 23, 30), "flag": True,
     "doc": {"b": [1, "中\t\\N"], "a": None}, "text": "公示\t\\N\r\n\\x"},  # COPY's escapes
    {"day": date(1, 1, 1), "at": datetime(2026, 1, 1, 0, 0, 0, 120), "flag": False,
     "doc": None, "text": None},
    {"day": None, "at": None, "flag": None, "doc": [], "text": "=cmd|' /C calc'!A0"},
]


@pytest.fixture
def probe(ctx):
    PROBE.create(db.engine, checkfirst=True)
    yield PROBE
    db.session.rollback()
    PROBE.drop(db.engine)


def _stored(first: int) -> list[tuple]:
    """Every column as the database holds it, as text (SQLite's stored format shows)."""
    columns = [sa.cast(c, sa.Text) for c in PROBE.c if c.name not in ("id", "serial")]
    return [tuple(r) for r in db.session.execute(
        sa.select(*columns).where(PROBE.c.id >= first).order_by(PROBE.c.id).limit(len(ROWS)))]


def test_the_driver_stores_what_sqlalchemy_stores(probe):
    db.session.execute(sa.insert(probe), [{"id": i, **r} for i, r in enumerate(ROWS, 1)])
    assert execute_many(sa.insert(probe), [{"id": i, **r} for i, r in enumerate(ROWS, 11)]
                        ) == len(ROWS)
    assert _stored(11) == _stored(1)
    serials = db.session.execute(sa.select(probe.c.serial).where(probe.c.id > 10)).scalars()
    assert len(set(serials)) == len(ROWS)  # the callable default ran once per row


def test_updates_with_literals_of_their_own(probe):
    rows = [{"id": i, **r} for i, r in enumerate(ROWS, 1)]
    db.session.execute(sa.insert(probe), rows)
    update = sa.update(probe).where(probe.c.id == sa.bindparam("b_id"),
                                    probe.c.tries == 0).values(day=sa.bindparam("day"),
                                                               doc=sa.bindparam("doc"))
    changes = [{"b_id": 1, "day": date(2025, 10, 8), "doc": {"x": "十"}},
               {"b_id": 2, "day": None, "doc": None}, {"b_id": 99, "day": None, "doc": None}]
    assert execute_many(update, changes) == 2  # the missing row changes nothing
    got = db.session.execute(sa.select(probe.c.day, probe.c.doc).order_by(probe.c.id)).all()
    assert [tuple(r) for r in got] == [(date(2025, 10, 8), {"x": "十"}), (None, None),
                                       (None, [])]
    assert execute_many(update, []) == 0


def _as_stored(table: sa.Table, skip: tuple[str, ...]) -> list[tuple]:
    columns = [sa.cast(c, sa.Text) for c in table.c if c.name not in skip]
    return sorted(tuple(r) for r in db.session.execute(sa.select(*columns)))


def test_the_rebuild_writes_what_sqlalchemy_wrote(world, pin, monkeypatch):  # noqa: F811
    """The statements the rebuild really runs (its rows without ids, the sets' upsert): the
    same stored rows through the driver as through SQLAlchemy."""
    three_cases(world)
    def rebuilt() -> tuple[list[tuple], list[tuple]]:
        alerts.refresh_all_deadlines()
        db.session.commit()
        return (_as_stored(DeadlineRow.__table__, ("id",)),
                _as_stored(DeadlineSet.__table__, ()))
    monkeypatch.setattr(deadline_rows, "utcnow", lambda: datetime(2026, 1, 15, 8, 0))
    ours = rebuilt()
    assert ours[0] and ours[1]

    def sqlalchemy_many(statement, rows):
        return db.session.execute(statement, list(rows)).rowcount if rows else 0
    monkeypatch.setattr(deadline_rows, "execute_many", sqlalchemy_many)
    assert rebuilt() == ours


def test_the_rebuild_writes_sets_in_ascending_case_order(world, pin):  # noqa: F811
    """The sets' upsert is the chunk's lock: its rows go in the order of the chunk's ids
    (ascending, as every writer of many sets takes them: two never wait for each other on
    PostgreSQL), whatever order the cases were read in."""
    three_cases(world)
    ids = sorted(db.session.execute(sa.select(DeadlineSet.case_id)).scalars())
    derived = deadline_rows.derive(ids)
    derived.sets = dict(reversed(list(derived.sets.items())))  # as a read might return them
    seen: list[int] = []

    def upserts(conn, cursor, statement, parameters, context, executemany):
        if executemany and "deadline_sets" in statement and "INSERT" in statement.upper():
            seen.extend(p["case_id"] if isinstance(p, dict) else p[0] for p in parameters)
    sa.event.listen(db.engine, "before_cursor_execute", upserts)
    try:
        deadline_rows.write(derived)
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", upserts)
    assert len(ids) > 1 and seen == ids


def test_what_only_sqlalchemy_can_do_goes_through_sqlalchemy(probe):
    """An expanding IN list, or a required value missing: not handed to the driver; the
    statement runs (or fails) as SQLAlchemy runs it."""
    db.session.execute(sa.insert(probe), [{"id": i, **r} for i, r in enumerate(ROWS, 1)])
    listed = sa.update(probe).where(probe.c.id.in_([1, 2])).values(text=sa.bindparam("t"))
    assert driver_many._prepared(listed, db.session.connection().dialect, ("t",)) is None
    assert execute_many(listed, [{"t": "x"}]) == 2
    assert db.session.execute(sa.select(probe.c.text).order_by(probe.c.id)).scalars().all() == [
        "x", "x", ROWS[2]["text"]]
    with pytest.raises(sa.exc.StatementError, match="A value is required"):
        execute_many(sa.update(probe).where(probe.c.id == sa.bindparam("b_id")).values(
            text=sa.bindparam("t")), [{"b_id": 1}])
    assert driver_many._prepared.cache_info().currsize > 0


def test_a_plain_insert_goes_by_copy_on_postgresql(probe, monkeypatch):
    """On PostgreSQL (psycopg) `insert(table)` is written with COPY (the rows' values taken as
    above: the test of stored values runs through it there); an insert with more to it is
    not, and goes through the executemany."""
    dialect = db.session.connection().dialect
    copy = driver_many._copy_prepared(sa.insert(probe), dialect, ("id", *ROWS[0]))
    assert copy is not None and copy[0].startswith("COPY driver_many_probe (id, day, at,")
    assert "serial" in copy[0] and "tries" in copy[0]  # the Python-side defaults too
    for more in (sa.insert(probe).values(text="x"), sa.insert(probe).returning(probe.c.id),
                 sa.insert(probe).from_select(["id"], sa.select(sa.literal(1)))):
        assert driver_many._copy_prepared(more, dialect, ("id",)) is None
    copied, real = [], driver_many._copied
    monkeypatch.setattr(driver_many, "_copied", lambda *a: copied.append(real(*a)) or copied[-1])
    assert execute_many(sa.insert(probe), [{"id": i, **r} for i, r in enumerate(ROWS, 21)]
                        ) == len(ROWS)
    assert copied == ([len(ROWS)] if dialect.driver == "psycopg" else [])



@given(st.one_of(st.none(), st.dates(), st.datetimes()))
def test_sqlite_dates_are_converted_as_sqlalchemy_converts_them(value):
    """`_converter`'s `date.isoformat` for SQLite's dates: the text SQLAlchemy makes, from the
    year 1 to 9999, a datetime (its day) and None included."""
    from sqlalchemy.dialects.sqlite import pysqlite
    dialect = pysqlite.dialect()
    impl = sa.Date().dialect_impl(dialect)
    fast = driver_many._converter(impl, dialect)
    assert fast.__name__ == "iso_date"  # the fast one is taken
    assert fast(value) == impl.bind_processor(dialect)(value)
    custom = sqlite.DATE(storage_format="%(day)02d/%(month)02d/%(year)04d")
    assert driver_many._converter(custom, dialect)(value) == custom.bind_processor(dialect)(value)


def test_a_bulk_read_gets_the_rows_sqlalchemy_gets_as_the_driver_hands_them_over(probe):
    """`fetch_all`: the same rows as `Session.execute`, by the driver's cursor, its own types
    where a column is selected without SQLAlchemy's processing (`as_driven`: SQLite's ISO
    text, psycopg's date), each day made once by `Days`. A parameter SQLAlchemy must convert
    (a date, on SQLite) sends the statement through SQLAlchemy: the same rows."""
    from workflow.persistence.driven_days import Days, as_driven
    from workflow.persistence.driver_many import fetch_all
    db.session.execute(sa.insert(probe), [{"id": i, **r} for i, r in enumerate(ROWS, 1)])
    stmt = (sa.select(probe.c.id, as_driven(probe.c.day), probe.c.text, probe.c.tries)
            .where(probe.c.id.in_([1, 2, 3, 99])).order_by(probe.c.id))
    got = fetch_all(stmt)
    assert [tuple(r) for r in got] == [tuple(r) for r in db.session.execute(stmt)]
    days = Days()
    assert [None if r[1] is None else days[r[1]] for r in got] == [r["day"] for r in ROWS]
    assert len(days) == 2 and days[date(2024, 2, 29)] == date(2024, 2, 29)
    dated = sa.select(probe.c.id, probe.c.text).where(probe.c.day >= date(2024, 1, 1))
    assert [tuple(r) for r in fetch_all(dated)] == [(1, ROWS[0]["text"])]
    assert fetch_all(sa.select(probe.c.id).where(probe.c.id > 99)) == []
