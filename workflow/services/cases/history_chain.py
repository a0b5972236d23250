"""The persistence side of the tamper-evident history (the links themselves: workflow.chain).

Every step record, document reference and violation acknowledgement is appended to its case's
chain in the transaction that writes it; `verify` recomputes every chain and names the first
broken link per case.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workflow import chain
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, StepRecordRow, ViolationRow
from workflow.services.directory import access

KINDS = {"step": StepRecordRow, "document": Document, "acknowledgement": ViolationRow}


def key() -> bytes:
    configured = current_app.config.get("HISTORY_CHAIN_KEY")
    secret = configured or current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), b"history-chain", hashlib.sha256).digest()


def payload(kind: str, row: Any) -> dict[str, Any]:
    common = {"kind": kind, "case_id": row.case_id, "id": row.id}
    if kind == "step":
        return {**common, "case_version": row.case_version, "step": row.step,
                "occurred_on": row.occurred_on, "data": row.data, "note": row.note,
                "recorded_by_id": row.recorded_by_id, "recorded_by_role": row.recorded_by_role,
                "acknowledged_reason": row.acknowledged_reason, "recorded_at": row.recorded_at,
                **_decision(row)}
    if kind == "document":
        return {**common, "step_record_id": row.step_record_id, "doc_type": row.doc_type,
                "on_file": row.on_file, "reference": row.reference, "filename": row.filename,
                "sha256": row.sha256, "size": row.size, "attached_on": row.attached_on,
                "attached_by_id": row.attached_by_id}
    return {**common, "step_record_id": row.step_record_id, "rule": row.rule,
            "responsible": row.responsible, "detail": row.detail,
            "acknowledged_by_id": row.acknowledged_by_id, "reason": row.reason}


def _decision(row: StepRecordRow) -> dict[str, Any]:
    """Who decided a committee decision and from which session: chained only when present,
    so every record written before these columns existed hashes exactly as it did."""
    found = {"decided_by_member_id": row.decided_by_member_id, "session_ref": row.session_ref}
    return {k: v for k, v in found.items() if v is not None}


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
    found = []
    for kind, model in KINDS.items():
        rows = (known or {}).get(kind)
        if rows is None:  # plain rows, as `verify` reads them: only their columns are hashed
            rows = db.session.execute(_rows_of(kind), {"case_id": case_id})
        found.extend(_entry(kind, row) for row in rows)
    return found


@functools.cache
def _rows_of(kind: str) -> sa.Select[Any]:
    """Built once per kind: every case page runs one (composing it cost more than running it)."""
    table = KINDS[kind].__table__
    return sa.select(table).where(table.c.case_id == sa.bindparam("case_id"))


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
    found = chain.first_break(key(), entries(case.id, known), case.chain_head or chain.GENESIS)
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
        found: dict[int, list[chain.Entry]] = {c.id: [] for c in chunk}
        for kind, model in KINDS.items():
            table = model.__table__
            for row in db.session.execute(sa.select(table).where(
                    table.c.case_id.in_(list(found)))).all():  # one fetch, not one per row
                found[row.case_id].append(_entry(kind, row))
        for case in chunk:
            head = case.chain_head or chain.GENESIS
            broken = chain.first_break(secret, found[case.id], head)
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
