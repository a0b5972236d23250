"""The committee's pre-review queue: candidates whose branch asked for pre-review (预审).
"""
from __future__ import annotations

from typing import Any

from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services.cases import views
from workflow.services.directory import access
from workflow.services.errors import BadRequest

PENDING_STATE = "candidate.awaiting_pre_review"


def pre_reviews(actor: User, status: str = "pending") -> dict[str, Any]:
    """Pending: branch committee review passed, waiting for sign-off. Decided: signed off."""
    if status not in ("pending", "decided"):
        raise BadRequest("status 必须是 pending 或 decided")
    scope = access.subtree_ids(actor.org_id)
    if status == "pending":
        query = db.select(Case).where(Case.branch_id.in_(scope), Case.state == PENDING_STATE)
    else:
        from workflow.persistence.models import StepRecordRow
        decided = db.select(StepRecordRow.case_id).where(
            StepRecordRow.case_id == Case.id, StepRecordRow.step == "pre_review_decided")
        query = db.select(Case).where(Case.branch_id.in_(scope), decided.exists())
    items = db.session.execute(query.order_by(Case.updated_at, Case.id)).scalars()
    return {"items": [views.summary(c) for c in items]}
