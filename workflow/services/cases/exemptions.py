"""Named exemptions from separation-of-duties rules, for organisations too small to satisfy
them. An exemption is recorded with who granted it and why; every step that used one says so,
and the committee sees them all."""
from __future__ import annotations

from typing import Any

from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Exemption, User
from workflow.rules import SEPARATION
from workflow.services.directory import access
from workflow.services.errors import Invalid
from workflow.steps import LONG_TEXT_MAX, text_problem

SEPARATION_RULES = {r.id for r in SEPARATION}


def grant(actor: User, org_code: str, rule: str, reason: str) -> dict[str, Any]:
    """A committee organiser (or admin) exempts an organisation in scope from one rule."""
    if actor.role not in ("committee_organizer", "admin"):
        access.require_committee(actor)
    org = access.visible_org(actor, org_code)
    if rule not in SEPARATION_RULES:
        raise Invalid("只能豁免回避规则", {"rule": "必须是 " + " / ".join(sorted(SEPARATION_RULES))})
    if not isinstance(reason, str) or len(reason.strip()) < 4:
        raise Invalid("请说明豁免原因", {"reason": "必填，至少 4 个字"})
    problem = text_problem(reason, LONG_TEXT_MAX)
    if problem:
        raise Invalid("豁免原因不正确", {"reason": problem})
    row = Exemption(org_id=org.id, rule=rule, reason=reason.strip(), granted_by_id=actor.id)
    db.session.add(row)
    db.session.commit()
    return view(row)


def view(row: Exemption) -> dict[str, Any]:
    return {"id": row.id, "org": row.org.code, "org_name": row.org.name, "rule": row.rule,
            "reason": row.reason,
            "granted_by": row.granted_by.username if row.granted_by else None,
            "granted_at": row.granted_at.isoformat(timespec="seconds")}


def applicable(branch_id: int, rules: set[str]) -> dict[str, Exemption]:
    """Exemptions of the branch or any organisation above it, for the given rules."""
    if not rules:
        return {}
    rows = db.session.execute(db.select(Exemption).where(
        Exemption.org_id.in_(repo.ancestors(branch_id)), Exemption.rule.in_(rules))
        .order_by(Exemption.id)).scalars()
    return {r.rule: r for r in rows}


def listing(actor: User) -> list[dict[str, Any]]:
    scope = access.subtree_ids(actor.org_id)
    rows = db.session.execute(db.select(Exemption).where(Exemption.org_id.in_(scope))
                              .order_by(Exemption.id)).scalars()
    return [view(r) for r in rows]
