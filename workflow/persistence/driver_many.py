"""One statement for many rows through the driver's own executemany.

SQLAlchemy's executemany processes every row's parameters in Python (`construct_params`: a
dict per row, each value looked up and converted), which in a rebuild of 5,000 cases cost
more than the database's work for the ~30,000 rows it writes. Here the statement is compiled
once per dialect and the rows go to the driver as it takes them, each value converted by the
same bind processor SQLAlchemy would apply (dates to SQLite's text, JSON to its text, …), so
the stored values are the same.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert

from workflow.persistence.db import db

Convert = Callable[[dict[str, Any]], Any]


def execute_many(statement: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Run `statement` (built once, e.g. under functools.cache) for every row, in the session's
    transaction (flushed first, as `Session.execute` would); every row has the same keys. The
    rows the database reports changed."""
    if not rows:
        return 0
    if db.session.autoflush:
        db.session.flush()
    connection = db.session.connection()
    sql, convert = _prepared(statement, connection.dialect, tuple(rows[0]))
    result = connection.exec_driver_sql(sql, [convert(row) for row in rows])
    try:
        return int(result.rowcount)
    finally:
        result.close()


@functools.lru_cache(maxsize=64)
def _prepared(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, Convert]:
    """The statement's SQL for the dialect and how a row becomes the driver's parameters.

    Compiled for executemany (no RETURNING of generated keys nobody reads). What SQLAlchemy
    would do per execution and this cannot (expanding IN lists, a bind computed by a callable,
    a default that reads its execution context, escaped bind names) is refused here, and a
    required value missing from the rows raises as SQLAlchemy raises."""
    compiled = statement.compile(dialect=dialect, for_executemany=True,
                                 column_keys=list(keys) if isinstance(statement, Insert) else None)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise NotImplementedError("expanding or literal-execute parameters")
    keyed = set(keys)
    # columns the rows leave out whose Python-side default SQLAlchemy would fill in
    defaults = {c.key: c.default for c in compiled.insert_prefetch}
    defaults.update({c.key: c.onupdate for c in compiled.update_prefetch})
    getters: dict[str, Callable[[dict[str, Any]], Any]] = {}
    for bind, name in compiled.bind_names.items():
        if compiled.escaped_bind_names.get(name, name) != name:
            raise NotImplementedError(f"{name}: an escaped bind name")
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        getters[name] = _getter(bind, name, keyed, defaults.get(name), convert)
    if compiled.positiontup is not None:  # qmark (SQLite): a tuple in the statement's order
        order = tuple(getters[name] for name in compiled.positiontup)
        return compiled.string, lambda row: tuple(get(row) for get in order)
    named = tuple(getters.items())  # pyformat (psycopg): a dict by name
    return compiled.string, lambda row: {name: get(row) for name, get in named}


def _getter(bind: Any, name: str, keyed: set[str], default: Any,
            convert: Callable[[Any], Any] | None) -> Callable[[dict[str, Any]], Any]:
    """How one parameter's value is taken from a row, as `construct_params` takes it."""
    key = bind.key if bind.key in keyed else name if name in keyed else None
    if key is not None:
        if convert is None:
            return lambda row: row[key]
        return lambda row: convert(row[key])
    if default is not None:
        if default.is_callable:
            make = default.arg
            if not hasattr(make, "__wrapped__"):  # SQLAlchemy passes it the context
                raise NotImplementedError(f"{name}: a default that reads its context")
            return lambda row: make(None) if convert is None else convert(make(None))
        if not default.is_scalar:
            raise NotImplementedError(f"{name}: a default the database or SQL computes")
        value = default.arg
    elif bind.required:
        raise sa_exc.InvalidRequestError(f"A value is required for bind parameter {bind.key!r}")
    elif bind.callable:
        raise NotImplementedError(f"{name}: a value computed by a callable")
    else:
        value = bind.value  # a literal of the statement itself (in its WHERE)
    constant = value if convert is None else convert(value)
    return lambda row: constant
