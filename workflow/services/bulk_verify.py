"""The `verify` kind of bulk run (services/bulk_runs.py): every case's hash chain recomputed,
a chunk of cases per task, and compared with the latest valid checkpoint; what `flask verify`
prints, gathered from the chunks. The same checks and messages as history_chain.verify and
checkpoints.verify, which check in one process."""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from workflow import chain
from workflow.persistence.db import db
from workflow.persistence.models import BulkChunk, BulkRun, Case, Organisation
from workflow.services.bulk_runs import Kind, plan, register


def plan_verify(org: str | None = None) -> int:
    """A verify run: the latest valid checkpoint's entries go with the chunk of their ids
    (a worker on another machine need not see the checkpoint folder); the checkpointed cases
    that no longer exist are found here, once."""
    from workflow.services.cases import checkpoints
    from workflow.services.directory import access
    found = checkpoints.latest()
    scope = sorted(access.subtree_ids(access.org_by_code(org).id)) if org else None
    live = set(db.session.execute(
        sa.select(Case.id) if scope is None else
        sa.select(Case.id).where(Case.branch_id.in_(scope))).scalars())
    params: dict[str, Any] = {
        "org": org, "scope": scope,
        "rejected": [[r.name, r.reason] for r in found.rejected],
        "checkpoint": found.checkpoint.name if found.checkpoint else None,
        "missing": []}

    def expected(ranges: list[tuple[int, int]]) -> list[Any]:
        parts: list[dict[str, list[Any]] | None] = [None] * len(ranges)
        if found.checkpoint is None:
            return parts
        firsts = [first for first, _ in ranges]
        for e in found.checkpoint.entries():
            if e.case_id not in live:
                if scope is None or e.branch_id in scope:
                    params["missing"].append([e.case_id, e.length])
                continue
            i = bisect.bisect_right(firsts, e.case_id) - 1
            part = parts[i] if parts[i] is not None else {}
            part[str(e.case_id)] = [e.length, e.head]
            parts[i] = part
        return parts
    return plan("verify", params, scope=scope, chunk_params=expected)


def _verify_prepare(first: int, last: int, params: dict[str, Any], expected: Any) -> Any:
    from workflow.services.bulk import CHUNK, collector_paused
    from workflow.services.cases import history_chain
    query = sa.select(Case.id, Case.chain_head).where(Case.id.between(first, last))
    if params.get("scope") is not None:
        query = query.where(Case.branch_id.in_(params["scope"]))
    cases = db.session.execute(query.order_by(Case.id)).all()
    secret = history_chain.key()
    name = params.get("checkpoint")
    broken, problems, compared = [], [], 0
    with collector_paused():
        for start in range(0, len(cases), CHUNK):
            part = cases[start:start + CHUNK]
            found = history_chain.entries_of_cases([c.id for c in part])
            for case in part:
                entries = found[case.id]
                wrong = chain.first_break(secret, entries, case.chain_head or chain.GENESIS,
                                          history_chain.holds)
                if wrong is not None:
                    check = history_chain._failed(case.id, wrong)
                    broken.append([case.id, check.kind, check.record_id, check.reason])
                want = (expected or {}).get(str(case.id))
                if want is None:
                    continue
                compared += 1
                length, head = want
                if len(entries) < length:
                    problems.append([case.id, "shortened", (
                        f"shorter than at checkpoint {name}: {len(entries)} record(s), the "
                        f"checkpoint has {length} (records deleted)")])
                elif length and not any(e.index == length and e.hash == head for e in entries):
                    problems.append([case.id, "rewritten", (
                        f"record {length} is not the one in checkpoint {name} "
                        "(history rewritten)")])
    return len(cases), {"broken": broken, "problems": problems, "compared": compared}


def _verify_write(prepared: Any) -> tuple[int, Any]:
    return prepared  # a verify writes only its findings, on its chunk row


register("verify", Kind(_verify_prepare, _verify_write))


@dataclass
class VerifyReport:
    """What `flask verify` prints, gathered from a finished verify run."""
    checked: int
    broken: list[list[Any]]
    problems: list[list[Any]]
    heads: dict[str, str]
    checkpoint: str | None
    rejected: list[list[str]]
    compared: int

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.problems or self.broken)


def verify_report(run_id: int) -> VerifyReport:
    """The chunks' findings together, the missing cases, and each branch's head (from the
    case rows alone, as history_chain.verify computes it)."""
    from workflow.services.cases import history_chain
    run = db.session.get(BulkRun, run_id)
    assert run is not None and run.kind == "verify"
    params = run.params
    checked, compared, broken, problems = 0, 0, [], []
    for cases, result in db.session.execute(
            sa.select(BulkChunk.cases, BulkChunk.result).where(BulkChunk.run_id == run_id)):
        checked += cases or 0
        if result:
            broken += result["broken"]
            problems += result["problems"]
            compared += result["compared"]
    name = params.get("checkpoint")
    where = "" if params.get("scope") is None else ", or moved out of this organisation"
    problems += [[case_id, "missing", (
        f"missing: checkpoint {name} has it with {length} record(s) (case deleted{where})")]
        for case_id, length in params.get("missing", [])]
    query = sa.select(Case.id, Case.chain_head, Organisation.code).join(
        Organisation, Organisation.id == Case.branch_id)
    if params.get("scope") is not None:
        query = query.where(Case.branch_id.in_(params["scope"]))
    by_org: dict[str, list[tuple[int, str]]] = {}
    for case_id, head, code in db.session.execute(query):
        by_org.setdefault(code, []).append((case_id, head or chain.GENESIS))
    secret = history_chain.key()
    heads = {code: chain.org_head(secret, pairs) for code, pairs in sorted(by_org.items())}
    return VerifyReport(checked, sorted(broken), sorted(problems), heads, name,
                        params.get("rejected", []), compared)
