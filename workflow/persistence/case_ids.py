"""Selecting the rows of a chunk of cases: by a range of ids when the chunk is nearly all of one.

A bulk read takes cases a chunk at a time, usually in id order, so a chunk is a run of
consecutive ids. SQLite answers `case_id IN (500 ids)` by one index seek per id, a range by one
index scan: reading a chunk's step rows took 0.19 s against 0.12 s for 5,000 cases. A range
also selects rows of the cases inside it that the chunk does not have; the caller drops them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPARE = 4  # a range may cover one id in SPARE more than the chunk has


def among(column: Any, ids: Sequence[int]) -> Any:
    """The condition that `column` is one of `ids`, or lies in their range when that range is
    hardly wider: rows of other cases may come with it."""
    if not ids:
        return column.in_(ids)
    low, high = min(ids), max(ids)
    if high - low + 1 <= len(ids) + len(ids) // SPARE:
        return column.between(low, high)
    return column.in_(ids)

