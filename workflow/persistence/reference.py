"""Reference data (the organisation tree, rosters, rule settings, holidays) kept per process.

Every read and write of a case needs its branch's chain of parents, roster and rule book and
the working calendar; reading them cost four of a case page's ten statements, though they
change a few times a year (a roster a few times a month). Each process keeps what it built,
valid for one value of `reference_stamps`: database triggers (migration a9b8c7d6e5f4) give
that row a new random value in the statement that changes any of the four tables, whoever
writes it (the admin pages, the command line, an import, a hand-made SQL fix), so a kept
value is never served after its rows changed.

A transaction reads the stamp once, on first use, and builds what it misses from its own reads
made after that; under either database's isolation those are at least as new as the stamp, so
a kept value is never older than its stamp says. A write to one of the tables through the
session (a flush, an autoflush while building, a Core or text statement) forgets the
transaction's stamp: the next use re-reads it (the trigger has changed it, uncommitted), and a
value built across such a write is not kept, so a transaction's own changes are never kept
under the stamp other transactions still see. On PostgreSQL the stamp row's lock serialises
the transactions that write these tables (admin work, a few a day).
"""
from __future__ import annotations

import secrets
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from workflow.persistence.db import db

T = TypeVar("T")

STAMPS = sa.table("reference_stamps", sa.column("id"), sa.column("value"))
_STAMP = "reference_stamp"  # Session.info key: this transaction's stamp
_QUERY = sa.select(STAMPS.c.value).where(STAMPS.c.id == 1)

_kept: weakref.WeakKeyDictionary[Any, tuple[int, dict[Hashable, Any]]] = \
    weakref.WeakKeyDictionary()  # per engine (tests run several apps in one process)
_lock = threading.Lock()


def query() -> sa.Select[Any]:
    """The stamp as a scalar subquery, for a caller to read it along with its own row."""
    return _QUERY.scalar_subquery()


def noted(value: int | None) -> None:
    """Take the stamp a caller read along with its own first statement of the transaction."""
    if _STAMP not in db.session.info:
        db.session.info[_STAMP] = value


def stamp() -> int | None:
    """This transaction's stamp; None when the row is missing (then nothing is kept)."""
    info = db.session.info
    if _STAMP not in info:
        info[_STAMP] = db.session.execute(_QUERY).scalar_one_or_none()
    return info[_STAMP]  # type: ignore[no-any-return]


def forget() -> None:
    """Re-read the stamp at next use, for a transaction that must see changes committed since
    it first read it (a rebuild's chunk, after taking its locks)."""
    db.session.info.pop(_STAMP, None)


def renew() -> None:
    """Give the stamp a new value and drop what this process kept: after a restore, which
    loads rows without firing the triggers and brings back the backup's value."""
    with db.engine.begin() as conn:
        if sa.inspect(conn).has_table("reference_stamps"):  # not in a backup from before it
            conn.execute(sa.update(STAMPS).where(STAMPS.c.id == 1)
                         .values(value=sa.bindparam("value")), {"value": secrets.randbits(62)})
    with _lock:
        _kept.pop(db.engine, None)


def kept(key: Hashable, build: Callable[[], T]) -> T:
    """The value kept for `key` under this transaction's stamp, built (and kept) if missing.
    Values are shared by every thread of the process: they must not be mutated."""
    value = stamp()
    if value is None:
        return build()
    engine = db.engine
    with _lock:
        current = _kept.get(engine)
        if current is None or current[0] != value:
            current = (value, {})
            _kept[engine] = current
    store = current[1]
    if key in store:
        return store[key]  # type: ignore[no-any-return]
    built = build()  # two threads may both build it: the same rows, the same value
    # kept only if building wrote nothing to the tables: an autoflush of this transaction's
    # own pending rows there forgets the stamp, and what it built then includes those rows
    if db.session.info.get(_STAMP) == value:
        store[key] = built
    return built


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None or transaction.nested:  # not a flush's own subtransaction
        session.info.pop(_STAMP, None)


TABLES = frozenset({"organisations", "roster_members", "rule_settings", "holiday_overrides"})


@sa.event.listens_for(Session, "after_flush")
def _forget_after_flush(session: Session, context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(getattr(type(o), "__tablename__", None) in TABLES for o in changed):
        session.info.pop(_STAMP, None)


@sa.event.listens_for(Session, "do_orm_execute")
def _forget_before_write(state: Any) -> None:
    """Core or bulk writes to the four tables; raw SQL text might be one."""
    statement = state.statement
    if isinstance(statement, sa.TextClause) or (
            (state.is_insert or state.is_update or state.is_delete)
            and getattr(statement.table, "name", None) in TABLES):
        state.session.info.pop(_STAMP, None)
