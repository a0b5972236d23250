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

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert

from workflow.persistence.db import db

Convert = Callable[[dict[str, Any]], Any]


def execute_many(statement: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Run `statement` (built once, e.g. under functools.cache) for every row, in the session's
    transaction; every row has the same keys. The rows the database reports changed."""
    if not rows:
        return 0
    connection = db.session.connection()
    sql, convert = _prepared(statement, connection.dialect, tuple(rows[0]))
    result = connection.exec_driver_sql(sql, [convert(row) for row in rows])
    return int(result.rowcount)


@functools.lru_cache(maxsize=64)
def _prepared(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, Convert]:
    """The statement's SQL for the dialect and how a row becomes the driver's parameters."""
    compiled = statement.compile(dialect=dialect,
                                 column_keys=list(keys) if isinstance(statement, Insert) else None)
    keyed = set(keys)
    # columns the rows leave out whose Python-side default SQLAlchemy would fill in
    defaults = {c.key: c.default for c in compiled.insert_prefetch}
    defaults.update({c.key: c.onupdate for c in compiled.update_prefetch})

    def value_of(name: str) -> Callable[[dict[str, Any]], Any]:
        bind = compiled.binds[name]
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name not in keyed:
            default = defaults.get(name)
            if default is not None and default.is_callable:
                make = default.arg  # SQLAlchemy's wrapper: takes the (unused) context
                return lambda row: make(None) if convert is None else convert(make(None))
            if default is not None and not default.is_scalar:
                raise NotImplementedError(f"{name}: a default the driver cannot compute")
            # a scalar default, or a value of the statement itself (a literal in its WHERE)
            value = default.arg if default is not None else bind.effective_value
            constant = value if convert is None else convert(value)
            return lambda row: constant
        if convert is None:
            return lambda row: row[name]
        return lambda row: convert(row[name])
    if compiled.positiontup is not None:  # qmark (SQLite): a tuple in the statement's order
        order = tuple(value_of(name) for name in compiled.positiontup)
        return compiled.string, lambda row: tuple(get(row) for get in order)
    named = tuple((name, value_of(name)) for name in compiled.binds)  # pyformat (psycopg)
    return compiled.string, lambda row: {name: get(row) for name, get in named}
