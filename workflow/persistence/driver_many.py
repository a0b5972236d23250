"""One statement for many rows through the driver's own executemany (and many rows read back
through its own fetchall).

SQLAlchemy's executemany processes every row's parameters in Python (`construct_params`: a
dict per row, each value looked up and converted), which in a rebuild of 5,000 cases cost
more than the database's work for the ~30,000 rows it writes. Here the statement is compiled
once per dialect and the rows go to the driver as it takes them, each value converted by the
same bind processor SQLAlchemy would apply (dates to SQLite's text, JSON to its text, …), so
the stored values are the same. On PostgreSQL a plain `insert(table)` goes through COPY
instead: there each INSERT of an executemany is still its own statement on the server.

A bulk read that takes its rows by position (`fetch_all`) skips SQLAlchemy's result rows the
same way: the driver's tuples, its own types (SQLite's ISO text for a date, psycopg's date).
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert

from workflow.persistence.db import db

Convert = Callable[[dict[str, Any]], Any]


def execute_many(statement: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Run `statement` (built once, e.g. under functools.cache) for every row, in the session's
    transaction (flushed first, as `Session.execute` would); every row has the same keys. The
    rows the database reports changed. A statement the driver cannot be handed as it is (see
    `_prepared`) goes through SQLAlchemy's own executemany instead: slower, never different."""
    if not rows:
        return 0
    if db.session.autoflush:
        db.session.flush()
    connection = db.session.connection()
    prepared = _prepared(statement, connection.dialect, tuple(rows[0]))
    if prepared is None:
        return int(db.session.execute(statement, list(rows)).rowcount)
    sql, convert = prepared
    if connection.dialect.driver == "psycopg":
        copied = _copied(statement, connection, rows)
        if copied is not None:
            return copied
    result = connection.exec_driver_sql(sql, [convert(row) for row in rows])
    try:
        return int(result.rowcount)
    finally:
        result.close()


def fetch_all(statement: Any) -> list[Any]:
    """Every row of a SELECT as the driver hands it over, in the session's transaction
    (flushed first, as `Session.execute` would). Columns come without SQLAlchemy's result
    processing (select them as the driver's value is wanted: `as_driven` dates, JSON as
    text); parameters that need SQLAlchemy's bind processing send the statement through
    the connection's own execution instead (its rows unpack as tuples do)."""
    if db.session.autoflush:
        db.session.flush()
    connection = db.session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    types = {bind.type for bind in compiled.binds.values()}  # an IN list's share one
    if any(kind.dialect_impl(dialect).bind_processor(dialect) for kind in types):
        return list(connection.execute(statement))  # e.g. a date bound on SQLite
    params = compiled.construct_params()
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(compiled.string, params if compiled.positiontup is None
                       else tuple(params[name] for name in compiled.positiontup))
        return cursor.fetchall()
    finally:
        cursor.close()


@functools.lru_cache(maxsize=64)
def _prepared(statement: Any, dialect: Dialect,
              keys: tuple[str, ...]) -> tuple[str, Convert] | None:
    """The statement's SQL for the dialect and how a row becomes the driver's parameters.

    Compiled for executemany (no RETURNING of generated keys nobody reads). None when a
    parameter needs what SQLAlchemy does per execution (an expanding IN list, a bind computed
    by a callable, a default that reads its execution context or is SQL, an escaped bind name)
    or a required value is missing from the rows (SQLAlchemy then raises its own error)."""
    taken = _compiled(statement, dialect, keys)
    if taken is None:
        return None
    compiled, takes = taken
    if compiled.positiontup is not None:  # qmark (SQLite): a tuple in the statement's order
        return compiled.string, _positional([takes[name] for name in compiled.positiontup])
    named = tuple((name, _getter(take)) for name, take in takes.items())  # pyformat (psycopg)
    return compiled.string, lambda row: {name: get(row) for name, get in named}


def _compiled(statement: Any, dialect: Dialect,
              keys: tuple[str, ...]) -> tuple[Any, dict[str, Take]] | None:
    """The statement compiled for executemany and how each bind parameter is taken from a
    row, in the statement's order; None where only SQLAlchemy's execution can (`_prepared`)."""
    compiled = statement.compile(dialect=dialect, for_executemany=True,
                                 column_keys=list(keys) if isinstance(statement, Insert) else None)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None
    keyed = set(keys)
    # columns the rows leave out whose Python-side default SQLAlchemy would fill in
    defaults = {c.key: c.default for c in compiled.insert_prefetch}
    defaults.update({c.key: c.onupdate for c in compiled.update_prefetch})
    takes: dict[str, Take] = {}
    for bind, name in compiled.bind_names.items():
        convert = _converter(bind.type.dialect_impl(dialect), dialect)
        take = _take(bind, name, keyed, defaults.get(name), convert)
        if take is None or compiled.escaped_bind_names.get(name, name) != name:
            return None
        takes[name] = take
    return compiled, takes


def _converter(impl: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor; for SQLite's dates in their default format, the same text
    by `date.isoformat` (a rebuild converts some 60,000 dates; SQLAlchemy's formatting of a
    dict of three fields took 0.9 µs a date). Anything else, a datetime among them, goes to
    SQLAlchemy's processor."""
    process = impl.bind_processor(dialect)
    if process is None or not (isinstance(impl, sqlite.DATE)
                               and impl._storage_format == sqlite.DATE._storage_format):
        return process
    iso = date.isoformat

    def iso_date(value: Any) -> Any:
        return iso(value) if type(value) is date else process(value)
    return iso_date


def _copied(statement: Any, connection: Any, rows: Sequence[dict[str, Any]]) -> int | None:
    """A plain INSERT of many rows on PostgreSQL through COPY (psycopg's `copy`), each row's
    values taken and converted as for the executemany: a rebuild's 30,000 deadline rows cost
    0.5–0.7 s as INSERTs, each its own statement on the server. None when the statement is more
    than `insert(table)` (values of its own, a RETURNING, ON CONFLICT)."""
    copy = _copy_prepared(statement, connection.dialect, tuple(rows[0]))
    if copy is None:
        return None
    sql, values = copy
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(sql) as copying:
            for row in rows:
                copying.write_row(values(row))
        return int(cursor.rowcount) if cursor.rowcount >= 0 else len(rows)


@functools.lru_cache(maxsize=64)
def _copy_prepared(statement: Any, dialect: Dialect,
                   keys: tuple[str, ...]) -> tuple[str, Convert] | None:
    """`COPY table (columns) FROM STDIN` for an `insert(table)`, and a row's values in the
    columns' order: the rows' own columns and those SQLAlchemy fills in Python (taken as for
    the executemany); the others get the table's server default, as they would from the INSERT."""
    table = getattr(statement, "table", None)
    if not isinstance(table, Table) or not statement.compare(insert(table)):
        return None
    taken = _compiled(statement, dialect, keys)
    if taken is None or any(name not in table.c for name in taken[1]):
        return None
    takes = taken[1]
    quote = dialect.identifier_preparer
    sql = (f"COPY {quote.format_table(table)} "
           f"({', '.join(quote.format_column(table.c[name]) for name in takes)}) FROM STDIN")
    return sql, _positional(list(takes.values()))


# how one parameter is taken: (the row's key, its converter or None), or a function of the row
# (a constant, a default computed per row)
Take = tuple[str, Callable[[Any], Any] | None] | Callable[[dict[str, Any]], Any]


def _positional(takes: list[Take]) -> Convert:
    """A row as the driver's tuple. When every value is the row's own (no constant, no
    default), one `itemgetter` picks them all in C and only the converted columns (SQLite's
    dates, JSON) take a Python call each: a rebuild writes tens of thousands of rows."""
    keyed = [take for take in takes if isinstance(take, tuple)]
    if len(keyed) < len(takes) or len(takes) < 2:
        order = tuple(_getter(take) for take in takes)
        return lambda row: tuple(get(row) for get in order)
    pick = operator.itemgetter(*(key for key, _ in keyed))
    converted = tuple((i, convert) for i, (_, convert) in enumerate(keyed) if convert)
    if not converted:
        return pick

    def convert_row(row: dict[str, Any]) -> tuple[Any, ...]:
        values = list(pick(row))
        for i, convert in converted:
            values[i] = convert(values[i])
        return tuple(values)  # SQLAlchemy hands the driver tuples or dicts only
    return convert_row


def _getter(take: Take) -> Callable[[dict[str, Any]], Any]:
    if not isinstance(take, tuple):
        return take
    key, convert = take
    if convert is None:
        return lambda row: row[key]
    return lambda row: convert(row[key])


def _take(bind: Any, name: str, keyed: set[str], default: Any,
          convert: Callable[[Any], Any] | None) -> Take | None:
    """How one parameter's value is taken from a row, as `construct_params` takes it; None
    when only SQLAlchemy's execution can (see `_prepared`)."""
    key = bind.key if bind.key in keyed else name if name in keyed else None
    if key is not None:
        return key, convert
    if default is not None:
        make = default.arg
        # a callable SQLAlchemy passes the context to (its wrapper of one that takes none has
        # `__wrapped__`), or a SQL expression: computed per execution
        if default.is_callable and hasattr(make, "__wrapped__"):
            return lambda row: make(None) if convert is None else convert(make(None))
        if not default.is_scalar:
            return None
        value = make
    elif bind.required or bind.callable:
        return None
    else:
        value = bind.value  # a literal of the statement itself (in its WHERE)
    constant = value if convert is None else convert(value)
    return lambda row: constant
