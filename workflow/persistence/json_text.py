"""JSON columns read as their text and decoded here, where a bulk read takes thousands of them.

SQLAlchemy's JSON type decodes each value through `json.loads`, whose wrappers and
whitespace checks cost more than the decoding (2.4 µs a small object against 1 µs by the
scanner alone): `verify` and the bulk replays read step data this way instead.
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

_SCAN = json.scanner.make_scanner(json.JSONDecoder())


def as_text(column: Any) -> Any:
    """The column's JSON text, under the column's name: a cast, since a driver that decodes
    JSON itself (psycopg) would otherwise hand a decoded value over."""
    return sa.cast(column, sa.Text).label(column.name)


def decoded(text: str | None) -> Any:
    """What `json.loads` makes of the text (the same decoder), None for SQL NULL. Anything but
    one value with nothing around it goes to `json.loads`, which decodes it or raises."""
    if text is None:
        return None
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
