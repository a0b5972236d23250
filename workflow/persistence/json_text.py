"""JSON columns read as their text and decoded here, where a bulk read takes thousands of them.

SQLAlchemy's JSON type decodes each value through `json.loads`, whose wrappers and
whitespace checks cost more than the decoding (2.4 µs a small object against 1 µs by the
scanner alone): `verify` and the bulk replays read step data this way instead.
`decoded_finite` also says whether the value holds no NaN or infinity, which `verify` needs to
trust a faster encoding of it (workflow.chain.Entry.plain).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
import sqlalchemy as sa


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # an exponent or mantissa too large: `1e400`
        raise _NotFinite(text)
    return value


def _constant(text: str) -> float:
    raise _NotFinite(text)  # NaN, Infinity, -Infinity


# The same C scanner, refusing what would decode to NaN or an infinity; `parse_float` is only
# called for numbers with a fraction or exponent, rare in step data, so it costs nothing else.
_FINITE = json.JSONDecoder(parse_float=_finite_float, parse_constant=_constant)
_SCAN_FINITE = json.scanner.make_scanner(_FINITE)


def as_text(column: Any) -> Any:
    """The column's JSON text, under the column's name: a cast, since a driver that decodes
    JSON itself (psycopg) would otherwise hand a decoded value over."""
    return sa.cast(column, sa.Text).label(column.name)


def decoded(text: str | None) -> Any:
    """What `json.loads` makes of the text, None for SQL NULL; not JSON raises as it does."""
    return decoded_finite(text)[0]


def decoded_fast(text: str | None) -> Any:
    """`decoded(text)`, by orjson where it can: a third of the time of the standard library's
    scanner, for the replays that read step data by the ten thousand (services/bulk). What
    orjson refuses, and the standard library takes (NaN and infinities, a lone surrogate),
    goes to `decoded`, and so does any run of 19 digits: orjson makes an integer beyond 64 bits
    a float. Text that is not JSON raises as there."""
    if text is None:
        return None
    if _LONG_DIGITS(text) is None:
        try:
            return _orjson_loads(text)
        except orjson.JSONDecodeError:
            pass
    return decoded(text)


_orjson_loads = orjson.loads
_LONG_DIGITS = re.compile(r"[0-9]{19}").search


def decoded_finite(text: str | None) -> tuple[Any, bool]:
    """`decoded(text)`, and whether the value holds no NaN and no infinity."""
    if text is None:
        return None, True
    try:
        value, end = _SCAN_FINITE(text, 0)
    except (StopIteration, _NotFinite):
        end = -1
    if end == len(text):
        return value, True
    try:  # whitespace around it, or not JSON (raises as `json.loads` does)
        return _FINITE.decode(text), True
    except _NotFinite:
        return json.loads(text), False


class Encoded(sa.types.TypeDecorator[Any]):
    """A JSON column's type for values written by the ten thousand (a case's kept findings,
    services/alerts/findings_store): encoded by orjson (3 µs a case's findings against
    json.dumps's 22 µs, 7 % of a rebuild), which also writes dates as ISO dates and enums as
    their values. orjson writes NaN and infinities as `null` where `json.dumps` writes them,
    so the type is for values that cannot hold floats. Read back as any JSON column is."""

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            from psycopg.types.json import Json
            return lambda value: None if value is None else Json(value, dumps=orjson.dumps)
        return lambda value: None if value is None else orjson.dumps(value).decode()
