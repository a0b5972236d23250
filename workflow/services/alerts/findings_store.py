"""Case findings kept on the case's deadline set (`deadline_sets.findings`), read by reports.

The committee table scores every case its branches ever held. Replaying each history for that
costs about fifty microseconds per step record; reading one compact value per case costs less
than streaming its records. A case's findings are trusted for a day when they were made from
everything the case had by then (`findings_from`), the day is inside their horizon
(`complete_until`, which a rule or holiday change resets), no step or document was chained
since (`chain_length`) and the same rule code made them (`findings_version`); every other case
is replayed, so a missed refresh costs time, not a wrong score. They are written by the same
statement that writes the set (services/alerts/deadline_rows), which never clears a stale mark.
"""
from __future__ import annotations

import functools
import hashlib
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from workflow.findings import Kept, decode
from workflow.persistence import json_text
from workflow.persistence.db import db
from workflow.persistence.models import Case, DeadlineSet, Organisation
from workflow.rubric import Scored


@functools.cache
def derivation() -> str:
    """Which code and holiday data derive findings: a digest of the workflow core's sources
    and chinesecalendar's version. Kept with the findings; a deploy that changes a rule, a
    deadline or the official calendar makes all findings kept before untrusted (replayed) until
    the catch-up rebuilds them, instead of the rubric disagreeing with the case page."""
    import workflow
    root = Path(workflow.__file__).parent
    digest = hashlib.sha256(metadata.version("chinesecalendar").encode())
    for path in sorted([*root.glob("*.py"), *root.glob("states/*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def set_values(kept: Kept, chain_length: int | None) -> dict[str, Any]:
    """The deadline-set columns that keep a case's findings (`findings.kept`; one writer:
    the deadline rows' set upserts, which write the value by orjson)."""
    return {"findings": kept.value, "findings_from": kept.since,
            "chain_length": chain_length, "findings_version": derivation()}


def _trusted(as_of: date) -> Any:
    """Findings made from everything the case had by `as_of`, inside their horizon, and no
    step or document chained since."""
    s = DeadlineSet
    return sa.and_(s.findings.is_not(None), s.findings_from <= as_of,
                   s.complete_until >= as_of, s.chain_length == Case.chain_length,
                   s.findings_version == derivation())


def outdated() -> Any:
    """Sets whose findings another version of the code made (or none yet): the catch-up
    rebuilds them. Written as ranges, so the index on the version serves it."""
    v = DeadlineSet.findings_version
    return sa.or_(v.is_(None), v < derivation(), v > derivation())


def _trusted_flag(as_of: date) -> Any:
    """`_trusted` as true or false, never NULL (a case without a set, or a NULL column)."""
    return sa.case((_trusted(as_of), True), else_=False)


def scored(scope: Any, as_of: date, years: list[int] | None = None) -> dict[int, Scored]:
    """Every case `scope` (a condition on Case) selects, as the rubric sees it on `as_of` for
    `years` (all when None): trusted findings decoded, the other cases replayed. One read
    decides both, so a case whose findings are rebuilt meanwhile is still counted once."""
    from workflow.services.bulk import collector_paused, scored_cases
    s = DeadlineSet
    result: dict[int, Scored] = {}
    wanted = None if years is None else frozenset(years)
    others = []
    with collector_paused():  # many small objects kept until the report is built
        # the findings as their text, decoded by orjson: json.loads through the column type
        # was a fifth of a table from kept findings (they hold no NaN, which orjson refuses)
        for case_id, branch_id, code, text, trusted in db.session.execute(
                sa.select(Case.id, Case.branch_id, Organisation.code,
                          json_text.as_text(s.findings), _trusted_flag(as_of))
                .join(Organisation, Organisation.id == Case.branch_id)
                .outerjoin(s, s.case_id == Case.id).where(scope)):
            if trusted:
                result[case_id] = decode(orjson.loads(text), as_of, wanted)
            else:
                others.append((case_id, branch_id, code))
    if others:
        result.update(scored_cases(sorted(others), as_of, wanted))
    return result


def to_replay(branch_ids: list[int], as_of: date) -> dict[int, int]:
    """Cases per branch whose findings cannot be trusted on `as_of`: what a report over these
    branches must replay (services/reports/fanout.py weighs its processes by it; reading the others'
    findings is cheaper than starting a process)."""
    if not branch_ids:
        return {}
    s = DeadlineSet
    rows = db.session.execute(
        sa.select(Case.branch_id, sa.func.count()).outerjoin(s, s.case_id == Case.id)
        .where(Case.branch_id.in_(branch_ids), sa.not_(_trusted_flag(as_of)))
        .group_by(Case.branch_id))
    return {branch_id: n for branch_id, n in rows}
