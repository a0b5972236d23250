"""Date columns read as the driver hands them over, made into `date`s once per distinct day.

A bulk read takes tens of thousands of dates and few distinct days: SQLAlchemy's result
processor parses every one of SQLite's ISO texts (psycopg hands over `date`s already), where
a dict of the days seen parses each day once.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa


class _AsDriven(sa.types.TypeDecorator[Any]):
    """A date column as the driver hands it over: SQLite's ISO text, psycopg's date."""

    impl = sa.Date
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


def as_driven(column: Any) -> Any:
    """The date column, selected without its result processor (read it through `Days`)."""
    return sa.type_coerce(column, _AsDriven)


class Days(dict[Any, date]):
    """The days read so far, keyed by what the driver handed over: `days[value]` is its date,
    parsed the first time (a missing key costs one call, a present one a lookup in C)."""

    def __missing__(self, value: Any) -> date:
        day = self[value] = value if isinstance(value, date) else date.fromisoformat(value)
        return day
