"""The approval queue: cases whose admission or conversion vote passed and that wait for the
committee's approval (审批), whatever their due date.

The queue is read from the cases' cached state (`candidate.voted`, `probationary.resolved_*`),
so a case is listed from the day its vote passes, not only once its three-month approval
deadline comes into an alert window; the dates come from a replay of just those cases, so a
corrected vote date or a changed rule shows at once. Branches see their own cases (read only:
approving is the committee's step); committees and auditors their subtree.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services.bulk import replay_cases
from workflow.services.clock import today
from workflow.services.directory import access

# the state a passed vote leaves the case in → (queue kind, the vote step, the deadline kind)
WAITING = {
    "candidate.voted": ("admission", "admission_voted", "approval_due"),
    "probationary.resolved_convert": ("conversion", "conversion_voted", "conversion_approval_due"),
    "probationary.resolved_extend": ("conversion", "conversion_voted", "conversion_approval_due"),
    "probationary.resolved_disqualify": ("conversion", "conversion_voted",
                                         "conversion_approval_due"),
}
OUTCOMES = {"probationary.resolved_convert": "convert", "probationary.resolved_extend": "extend",
            "probationary.resolved_disqualify": "disqualify"}


def approvals(actor: User, as_of: date | None = None) -> dict[str, Any]:
    """Every case in the actor's scope waiting for approval, the most urgent first."""
    day = as_of or today()
    rows = list(db.session.execute(
        db.select(Case).where(Case.branch_id.in_(access.subtree_ids(actor.org_id)),
                              Case.state.in_(WAITING)).order_by(Case.id)).scalars())
    replays = replay_cases(rows, day)
    items = []
    for case in rows:
        r = replays.get(case.id)
        if r is None or r.state not in WAITING:  # the cached state was behind: trust the replay
            continue
        kind, vote_step, due_kind = WAITING[r.state]
        votes = [rec for rec in r.effective if rec.step == vote_step]
        due = [d for d in r.deadlines if d.kind == due_kind]
        due_on = min(d.due_on for d in due) if due else None
        items.append({
            "case_id": case.id, "kind": kind, "outcome": OUTCOMES.get(r.state),
            "voted_on": votes[-1].occurred_on.isoformat() if votes else None,
            "due_on": due_on.isoformat() if due_on else None,
            "days_left": (due_on - day).days if due_on else None,
            "name": case.person_name, "branch": case.branch.code,
            "branch_name": case.branch.name, "state": r.state,
        })
    items.sort(key=lambda i: (i["due_on"] is None, i["due_on"] or "", i["case_id"]))
    return {"items": items, "as_of": day.isoformat()}
