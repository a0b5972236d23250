"""The annual development statistics a committee reports each year (发展党员工作年度统计).

Counted from the replayed histories, never typed in: a step counts for the branch that held
the case on the day it happened (a transfer moves the case, not its past), in the calendar year
of that day. Corrections are folded in by the replay, so a corrected date moves the count.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from workflow.history import Replay, StepRecord
from workflow.persistence.db import db
from workflow.persistence.models import Organisation, User
from workflow.services import reports
from workflow.services.bulk import collector_paused
from workflow.services.reports import fanout

# (column id, 中文 label): the order of the table, the files and the API-like dict.
COLUMNS = (
    ("activists_designated", "确定入党积极分子"),
    ("activists_trained", "积极分子参加党校培训"),
    ("candidates_designated", "确定发展对象"),
    ("admitted", "接收预备党员（审批通过）"),
    ("converted", "预备党员转正"),
)


def _events(r: Replay) -> Iterable[tuple[str, StepRecord]]:
    """The counted events of one case, in the order they happened.

    A conversion counts when the committee approves a branch resolution to convert (an approved
    extension or disqualification is not a conversion); an attended course counts once per
    case and year however many courses the activist attended.
    """
    resolution = None
    for rec in r.effective:
        if rec.step == "conversion_voted":
            resolution = rec.data.get("outcome")
        if rec.step == "activist_designated":
            yield "activists_designated", rec
        elif rec.step == "training_attended" and rec.data.get("attended") is True:
            yield "activists_trained", rec
        elif rec.step == "candidate_designated":
            yield "candidates_designated", rec
        elif rec.step == "admission_approved" and rec.data.get("decision") == "approved":
            yield "admitted", rec
        elif (rec.step == "conversion_approved" and rec.data.get("decision") == "approved"
              and resolution == "convert"):
            yield "converted", rec


def count(replays: dict[int, Replay], branches: list[str], year: int) -> dict[str, dict[str, int]]:
    """Per branch code, the number of distinct cases with each event in `year`."""
    seen: dict[str, dict[str, set[int]]] = {b: {c: set() for c, _ in COLUMNS} for b in branches}
    for case_id, r in replays.items():
        for column, rec in _events(r):
            org = r.org_on(rec.occurred_on)
            if rec.occurred_on.year == year and org in seen:
                seen[org][column].add(case_id)
    return {b: {c: len(ids) for c, ids in cols.items()} for b, cols in seen.items()}


@fanout.share_task
def count_share(branch_ids: list[int], year: int, as_of: date) -> dict[str, dict[str, int]]:
    """`count` for some branches, from every case they may have held: a report process's share."""
    codes = list(db.session.execute(db.select(Organisation.code).where(
        Organisation.id.in_(branch_ids))).scalars())
    with collector_paused():
        return count(reports.replays_of(reports.scope_cases(set(branch_ids)), as_of), codes, year)


def annual(actor: User, org: str | None, year: Any, as_of: date) -> dict[str, Any]:
    """Each branch under `org` (default: the actor's organisation) and the total, for a year."""
    root = reports.table_root(actor, org)
    year_n = reports.parse_year(year)
    root_code, root_name = root.code, root.name  # a run's commits expire the objects read
    branches = reports.branches_in(root)
    listed = [(b.code, b.name) for b in branches]
    counts: dict[str, dict[str, int]] = {}
    for share in fanout.over_branches(count_share, [b.id for b in branches], year_n, as_of):
        counts.update(share)
    rows = [{"org": code, "name": name, **counts[code]} for code, name in listed]
    total = {c: sum(r[c] for r in rows) for c, _ in COLUMNS}
    return {"org": root_code, "org_name": root_name, "year": year_n, "as_of": as_of.isoformat(),
            "columns": [{"id": c, "label": label} for c, label in COLUMNS],
            "rows": rows, "total": total}
