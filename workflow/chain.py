"""The tamper-evident history: every appended record is chained to the previous one of its case.

Each link is an HMAC over the previous link and the record's canonical content, keyed by a
secret that does not live in the database, so someone who can edit the database can neither
change a record unnoticed nor recompute the chain to hide it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from workflow.messages import Message

GENESIS = "0" * 64


def _default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not canonical: {type(value).__name__}")


# Built once: `json.dumps` with options makes an encoder per call. The options are the
# canonical form's (every existing link was hashed with them); `_default` is only a fallback
# for dates nested in step data being written: the payloads of history_chain carry their
# dates as ISO text already, so encoding them never calls back into Python. No cycle check:
# a payload is a tree (decoded JSON and scalars).
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                            default=_default, check_circular=False)


def _c_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """The C encoder `_ENCODER.encode` makes afresh on every call (with a Python closure it
    does not use), made once with the same arguments; None where the C module is missing
    or its signature differs (the encoder above is then used: same bytes, slower)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        return make(None, _default, json.encoder.encode_basestring, None, ":", ",", True,
                    False, True) if make is not None else None
    except TypeError:
        return None


_C_ENCODER = _c_encoder()


def canonical(payload: Mapping[str, Any]) -> bytes:
    if _C_ENCODER is not None and type(payload) is dict:
        return "".join(_C_ENCODER(payload, 0)).encode("utf-8")
    return _ENCODER.encode(payload).encode("utf-8")


@functools.lru_cache(maxsize=16)
def _pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the key absorbed (RFC 2104), made once per
    key: copying them costs a third of `hmac.new`, which starts both over for every link."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)),
            hashlib.sha256(bytes(b ^ 0x5C for b in key)))


def link(key: bytes, prev: str, payload: Mapping[str, Any]) -> str:
    """HMAC-SHA256 of the previous link and the payload's canonical form, as hex."""
    return link_of(key, prev, canonical(payload))


def link_of(key: bytes, prev: str, content: bytes) -> str:
    """`link` of a payload whose canonical bytes are `content`."""
    inner, outer = _pads(key)
    inner, outer = inner.copy(), outer.copy()
    inner.update(prev.encode("ascii") + b"\n" + content)
    outer.update(inner.digest())
    return outer.hexdigest()


def holds(key: bytes, prev: str, entry: Entry) -> bool:
    """Whether the entry's hash is its link after `prev`. A payload with a lone surrogate has
    no UTF-8 form, so no link was ever made of one: it was written in behind the chain's back
    (a broken link, not a failed check)."""
    try:
        return link(key, prev, entry.payload) == entry.hash
    except UnicodeEncodeError:
        return False


class Entry(NamedTuple):
    """A named tuple, not a frozen dataclass: `verify` makes one per record, and a frozen
    dataclass's `__init__` (every field through `object.__setattr__`) cost 1.1 µs of it."""

    kind: str  # step | document | acknowledgement
    id: int
    index: int  # position in the case's chain, from 1
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str
    # the payload holds no NaN and no infinity, so a faster encoding may be tried first
    # (services/cases/history_chain.holds); False unless the reader checked
    plain: bool = False


@dataclass(frozen=True)
class Break:
    entry: Entry | None
    reason: str


_INDEX = operator.attrgetter("index")


Holds = Callable[[bytes, str, Entry], bool]


def first_break(key: bytes, entries: Sequence[Entry], head: str | None = None,
                check: Holds = holds) -> Break | None:
    """The first link that does not hold, walking the case's chain in order; None if intact.
    `check` decides whether an entry's hash is its link (`holds`, or one that must agree)."""
    prev = GENESIS
    for expected, entry in enumerate(sorted(entries, key=_INDEX), start=1):
        if entry.index != expected:
            return Break(entry, Message("链序号应为 %(expected)d，实为 %(found)d（记录被删除或插入）",
                                        expected=expected, found=entry.index))
        if entry.prev_hash != prev:
            return Break(entry, Message("与前一条记录的链接不符"))
        if not check(key, prev, entry):
            return Break(entry, Message("记录内容与其哈希不符（被修改）"))
        prev = entry.hash
    if head is not None and head != prev:
        return Break(None, Message("案件的链头与最后一条记录不符（记录被删除）"))
    return None


def org_head(key: bytes, case_heads: Iterable[tuple[int, str]]) -> str:
    """One value that changes if any case's chain head in the organisation changes."""
    prev = GENESIS
    for case_id, head in sorted(case_heads):
        prev = link(key, prev, {"case": case_id, "head": head})
    return prev
