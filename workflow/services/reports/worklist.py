"""Work queues for the home pages: what each case can do next and what is due or overdue."""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow.history import DeadlineStatus
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services.cases import views
from workflow.services.directory import access
from workflow.services.reports.tables import _replays

OPEN = ("applicant", "activist", "candidate", "probationary")
STAGE_ORDER = ("applicant", "activist", "candidate", "probationary", "full_member", "closed")


def worklist(actor: User, as_of: date, branch: str | None = None) -> dict[str, Any]:
    scope = access.subtree_ids(actor.org_id)
    if branch:
        scope &= access.subtree_ids(access.visible_org(actor, branch).id)
    rows = list(db.session.execute(db.select(Case).where(Case.branch_id.in_(scope))
                                   .order_by(Case.id)).scalars())
    replays = _replays([c for c in rows if c.stage in OPEN], as_of)
    by_stage: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGE_ORDER}
    urgent = []
    for case in rows:
        item = views.summary(case)
        r = replays.get(case.id)
        if r is not None:
            item["next"] = [views.next_step(n) for n in r.next_steps
                            if n.step not in ("case_closed", "case_transferred")]
            item["deadlines"] = [views.deadline(d) for d in r.deadlines
                                 if d.status in (DeadlineStatus.DUE, DeadlineStatus.OVERDUE)]
            item["violations"] = len(r.violations)
            urgent += [{**d, "case": item} for d in item["deadlines"]]
        by_stage.setdefault(case.stage, []).append(item)
    urgent.sort(key=lambda d: (d["status"] != "overdue", d["due_on"]))
    return {"by_stage": by_stage, "urgent": urgent, "as_of": as_of.isoformat(),
            "total": len(rows)}
