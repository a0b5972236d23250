"""The persistence side of the tamper-evident history (the links themselves: workflow.chain).

Every step record, document reference and violation acknowledgement is appended to its case's
chain in the transaction that writes it; `verify` recomputes every chain and names the first
broken link per case.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workflow import chain
from workflow.persistence import json_text
from workflow.persistence.case_ids import among
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow, ViolationRow
from workflow.services.directory import access

KINDS = {"step": StepRecordRow, "document": Document, "acknowledgement": ViolationRow}


def key() -> bytes:
    configured = current_app.config.get("HISTORY_CHAIN_KEY")
    secret = configured or current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), b"history-chain", hashlib.sha256).digest()


def payload(kind: str, row: Any) -> dict[str, Any]:
    """The record's chained content (a row, an ORM object or anything with its columns as
    attributes). Dates and times are ISO text here, as `chain.canonical` writes them, so
    encoding never calls back into Python."""
    return _BUILD[kind](*_ATTRS[kind](row))


# The chained columns of each kind, in the order the builders below take them: `verify`
# selects them in this order and hands each row's values over by position (a Core row's
# attribute access cost more than the hash: about 0.6 µs a column).
CHAINED: dict[str, tuple[str, ...]] = {
    "step": ("case_id", "id", "case_version", "step", "occurred_on", "data", "note",
             "recorded_by_id", "recorded_by_role", "acknowledged_reason", "recorded_at",
             "decided_by_member_id", "session_ref"),
    "document": ("case_id", "id", "step_record_id", "doc_type", "on_file", "reference",
                 "filename", "sha256", "size", "attached_on", "attached_by_id"),
    "acknowledgement": ("case_id", "id", "step_record_id", "rule", "responsible", "detail",
                        "acknowledged_by_id", "reason"),
}
_ATTRS = {kind: operator.attrgetter(*columns) for kind, columns in CHAINED.items()}


def _step(case_id: int, id: int, case_version: int, step: str, occurred_on: Any, data: Any,
          note: Any, recorded_by_id: Any, recorded_by_role: Any, acknowledged_reason: Any,
          recorded_at: Any, decided_by_member_id: Any, session_ref: Any) -> dict[str, Any]:
    found = {"kind": "step", "case_id": case_id, "id": id, "case_version": case_version,
             "step": step, "occurred_on": _text(occurred_on), "data": data, "note": note,
             "recorded_by_id": recorded_by_id, "recorded_by_role": recorded_by_role,
             "acknowledged_reason": acknowledged_reason, "recorded_at": _text(recorded_at)}
    # who decided a committee decision and from which session: chained only when present,
    # so every record written before these columns existed hashes exactly as it did
    if decided_by_member_id is not None:
        found["decided_by_member_id"] = decided_by_member_id
    if session_ref is not None:
        found["session_ref"] = session_ref
    return found


def _document(case_id: int, id: int, step_record_id: Any, doc_type: Any, on_file: Any,
              reference: Any, filename: Any, sha256: Any, size: Any, attached_on: Any,
              attached_by_id: Any) -> dict[str, Any]:
    return {"kind": "document", "case_id": case_id, "id": id, "step_record_id": step_record_id,
            "doc_type": doc_type, "on_file": on_file, "reference": reference,
            "filename": filename, "sha256": sha256, "size": size,
            "attached_on": _text(attached_on), "attached_by_id": attached_by_id}


def _acknowledgement(case_id: int, id: int, step_record_id: Any, rule: Any, responsible: Any,
                     detail: Any, acknowledged_by_id: Any, reason: Any) -> dict[str, Any]:
    return {"kind": "acknowledgement", "case_id": case_id, "id": id,
            "step_record_id": step_record_id, "rule": rule, "responsible": responsible,
            "detail": detail, "acknowledged_by_id": acknowledged_by_id, "reason": reason}


_BUILD: dict[str, Callable[..., dict[str, Any]]] = {
    "step": _step, "document": _document, "acknowledgement": _acknowledgement}


def _text(value: Any) -> Any:
    """A date or time as `chain.canonical` would write it; anything else unchanged."""
    return value.isoformat() if isinstance(value, date) else value  # datetime is a date


def link_row(kind: str, row: Any, prev: str | None, index: int) -> str:
    """Set a flushed row's link after `prev` (no SQL) and return the new head; the caller
    then moves its case's head with an update guarded by the old length (see `append`)."""
    prev = prev or chain.GENESIS
    row.chain_index, row.prev_hash = index, prev
    row.chain_hash = chain.link(key(), prev, payload(kind, row))
    return str(row.chain_hash)


def append(case_id: int, kind: str, row: Any) -> None:
    """Link a flushed row to its case's chain; a concurrent append makes this one fail."""
    current = db.session.execute(db.select(Case.chain_head, Case.chain_length)
                                 .where(Case.id == case_id)).one()
    index = current.chain_length + 1
    link_row(kind, row, current.chain_head, index)
    done = db.session.execute(
        db.update(Case).where(Case.id == case_id, Case.chain_length == index - 1)
        .values(chain_head=row.chain_hash, chain_length=index)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise sa_exc.IntegrityError("chain", None, Exception("concurrent append"))
    loaded = db.session.identity_map.get(identity_key(Case, case_id))
    if loaded is not None:  # a later write in this transaction starts from the new head
        set_committed_value(loaded, "chain_head", row.chain_hash)
        set_committed_value(loaded, "chain_length", index)


def entries(case_id: int, known: dict[str, list[Any]] | None = None) -> list[chain.Entry]:
    """The case's chained rows; `known` holds rows of some kinds the caller already read."""
    found: list[chain.Entry] = []
    for kind in KINDS:
        rows = (known or {}).get(kind)
        if rows is None:  # plain rows, as `verify` reads them: only their columns are hashed
            found.extend(_entries_of(kind, db.session.execute(
                _rows_of(kind), {"case_id": case_id})))
        else:
            found.extend(_entry(kind, row) for row in rows)
    return found


@functools.cache
def _chained(kind: str) -> sa.Select[Any]:
    """The columns `_entries_of` reads by position: the chained ones in `CHAINED` order,
    then the link's (index, previous, hash). A step's `data` comes as its JSON text, decoded
    by `_entries_of` (persistence/json_text: cheaper than the column type's decoding)."""
    table = KINDS[kind].__table__
    return sa.select(*[json_text.as_text(table.c[c]) if c == "data" else table.c[c]
                       for c in CHAINED[kind]],
                     table.c.chain_index, table.c.prev_hash, table.c.chain_hash)


@functools.cache
def _rows_of(kind: str) -> sa.Select[Any]:
    """Built once per kind: every case page runs one (composing it cost more than running it)."""
    return _chained(kind).where(KINDS[kind].__table__.c.case_id == sa.bindparam("case_id"))


def entries_of_cases(case_ids: list[int]) -> dict[int, list[chain.Entry]]:
    """Every chained record of these cases (a chunk), keyed by case id: one query per kind,
    plain rows read by position (no ORM, no attribute access per column)."""
    found: dict[int, list[chain.Entry]] = {case_id: [] for case_id in case_ids}
    for kind, model in KINDS.items():
        rows = db.session.execute(_chained(kind).where(among(
            model.__table__.c.case_id, case_ids))).all()  # one fetch, not one per row
        for entry in _entries_of(kind, (row for row in rows if row[0] in found)):
            found[entry.payload["case_id"]].append(entry)
    return found


def _entries_of(kind: str, rows: Iterable[Any]) -> Iterator[chain.Entry]:
    """Entries of rows selected by `_chained(kind)`, their values taken by position.

    Each says whether it is plain (see `holds`): its data holds no NaN or infinity, and no
    column holds a float at all (none is a float column; SQLite would keep one written in)."""
    build, n, entry = _BUILD[kind], len(CHAINED[kind]), chain.Entry
    decoded = json_text.decoded_finite
    data = CHAINED[kind].index("data") if "data" in CHAINED[kind] else None
    for row in rows:
        values, plain = tuple(row), True
        if data is not None:
            value, plain = decoded(values[data])
            values = (*values[:data], value, *values[data + 1:])
        yield entry(kind, values[1], values[n] or 0, build(*values[:n]), values[n + 1] or "",
                    values[n + 2] or "", plain and float not in map(type, values))


def holds(key: bytes, prev: str, entry: chain.Entry) -> bool:
    """`chain.holds`, trying a plain entry's orjson encoding first (0.4 µs against the
    canonical encoder's 4.5 µs). orjson writes what the canonical form writes for nearly every
    payload but not all (`1e-07` is `1e-7` there; integers beyond 64 bits it refuses), so a
    mismatch or a refusal is decided by the canonical form. A match proves the content: an
    HMAC equal to the one made of the canonical bytes means the same bytes, hence the same
    JSON, except that orjson writes NaN and infinities as `null`: a `null` changed to `1e400`
    would match, so only a plain entry (none of either) is tried."""
    if entry.plain:
        try:
            content = orjson.dumps(entry.payload, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            return chain.holds(key, prev, entry)
        if chain.link_of(key, prev, content) == entry.hash:
            return True
    return chain.holds(key, prev, entry)


@dataclass(frozen=True)
class CaseCheck:
    case_id: int
    ok: bool
    kind: str | None = None
    record_id: int | None = None
    reason: str = ""

    def view(self) -> dict[str, Any]:
        return {"verified": self.ok, "kind": self.kind, "record_id": self.record_id,
                "reason": self.reason}


def check_case(case: Case, *, steps: list[Any] | None = None,
               documents: list[Any] | None = None) -> CaseCheck:
    """`steps` and `documents`: every such row of the case, when the caller has read them."""
    known = {k: v for k, v in (("step", steps), ("document", documents)) if v is not None}
    found = chain.first_break(key(), entries(case.id, known), case.chain_head or chain.GENESIS,
                              holds)
    return CaseCheck(case.id, True) if found is None else _failed(case.id, found)


Observer = Callable[[int, list[chain.Entry]], None]


def verify(org: str | None = None, observe: Observer | None = None,
           ) -> tuple[list[CaseCheck], dict[str, str]]:
    """Every case's first broken link (if any), and each branch's organisation head.

    Reads a chunk of cases' records at a time (three queries per chunk, plain rows, no
    identity map), so the cost is one pass over the history, not three queries per case.
    `observe` is shown each case's id and records, in increasing id order (the checkpoint
    comparison of `checkpoints.verify` rides on this one pass)."""
    from workflow.services.bulk import collector_paused
    with collector_paused():
        return _verify(org, observe)


def _verify(org: str | None, observe: Observer | None,
            ) -> tuple[list[CaseCheck], dict[str, str]]:
    from workflow.persistence.models import Organisation
    query = sa.select(Case.id, Case.chain_head, Organisation.code).join(
        Organisation, Organisation.id == Case.branch_id).order_by(Case.id)
    if org:
        query = query.where(Case.branch_id.in_(access.subtree_ids(access.org_by_code(org).id)))
    cases = db.session.execute(query).all()
    checks, heads = [], {}
    by_org: dict[str, list[tuple[int, str]]] = {}
    secret = key()
    for start in range(0, len(cases), VERIFY_CHUNK):
        chunk = cases[start:start + VERIFY_CHUNK]
        found = entries_of_cases([c.id for c in chunk])
        for case in chunk:
            head = case.chain_head or chain.GENESIS
            broken = chain.first_break(secret, found[case.id], head, holds)
            checks.append(CaseCheck(case.id, True) if broken is None else _failed(case.id, broken))
            by_org.setdefault(case.code, []).append((case.id, head))
            if observe is not None:
                observe(case.id, found[case.id])
    for code, case_heads in sorted(by_org.items()):
        heads[code] = chain.org_head(secret, case_heads)
    return checks, heads


VERIFY_CHUNK = 500


def _entry(kind: str, row: Any) -> chain.Entry:
    return chain.Entry(kind, row.id, row.chain_index or 0, payload(kind, row),
                       row.prev_hash or "", row.chain_hash or "")


def _failed(case_id: int, found: chain.Break) -> CaseCheck:
    entry = found.entry
    return CaseCheck(case_id, False, entry.kind if entry else None, entry.id if entry else None,
                     found.reason)
