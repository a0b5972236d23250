"""The tamper-evident history: every appended record is chained to the previous one of its case.

Each link is an HMAC over the previous link and the record's canonical content, keyed by a
secret that does not live in the database, so someone who can edit the database can neither
change a record unnoticed nor recompute the chain to hide it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

GENESIS = "0" * 64


def _default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not canonical: {type(value).__name__}")


def canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_default).encode("utf-8")


def link(key: bytes, prev: str, payload: Mapping[str, Any]) -> str:
    return hmac.new(key, prev.encode("ascii") + b"\n" + canonical(payload), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Entry:
    kind: str  # step | document | acknowledgement
    id: int
    index: int  # position in the case's chain, from 1
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Break:
    entry: Entry | None
    reason: str


def first_break(key: bytes, entries: Sequence[Entry], head: str | None = None) -> Break | None:
    """The first link that does not hold, walking the case's chain in order; None if intact."""
    prev = GENESIS
    for expected, entry in enumerate(sorted(entries, key=lambda e: e.index), start=1):
        if entry.index != expected:
            return Break(entry, f"链序号应为 {expected}，实为 {entry.index}（记录被删除或插入）")
        if entry.prev_hash != prev:
            return Break(entry, "与前一条记录的链接不符")
        if link(key, prev, entry.payload) != entry.hash:
            return Break(entry, "记录内容与其哈希不符（被修改）")
        prev = entry.hash
    if head is not None and head != prev:
        return Break(None, "案件的链头与最后一条记录不符（记录被删除）")
    return None


def org_head(key: bytes, case_heads: Iterable[tuple[int, str]]) -> str:
    """One value that changes if any case's chain head in the organisation changes."""
    prev = GENESIS
    for case_id, head in sorted(case_heads):
        prev = link(key, prev, {"case": case_id, "head": head})
    return prev
