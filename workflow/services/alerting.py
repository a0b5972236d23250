"""The deadline sweep: turn deadlines that entered an alert window into outbox rows, once.

Safe to run twice or after a crash: each (case, rule, kind, due date, level) is inserted at
most once (a unique constraint backs the check), so a rerun adds only what is missing.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import exc as sa_exc

from workflow import alerts
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Notification
from workflow.replay import replay
from workflow.rules import REGISTRY

OPEN_STAGES = ("applicant", "activist", "candidate", "probationary")


def _committee_of(branch_id: int) -> int:
    chain = repo.ancestors(branch_id)
    return chain[-1]


def _existing(case_id: int) -> set[tuple[str, str, date, str]]:
    rows = db.session.execute(db.select(Notification.rule, Notification.kind, Notification.due_on,
                                        Notification.level).filter_by(case_id=case_id))
    return {tuple(r) for r in rows}  # type: ignore[misc]


def scan(as_of: date) -> dict[str, Any]:
    calendar = repo.working_calendar()
    created = seen = 0
    cases = db.session.execute(db.select(Case).where(Case.stage.in_(OPEN_STAGES))).scalars().all()
    for case in cases:
        records = [repo.to_record(r) for r in repo.step_rows(case.id)]
        r = replay(records, as_of, rulebook=repo.rulebook_for(case.branch_id), calendar=calendar,
                   validate=False, org=case.branch.code)
        existing = _existing(case.id)
        for d in r.deadlines:
            lvl = alerts.level(d, as_of)
            if lvl is None:
                continue
            seen += 1
            if (d.rule, d.kind, d.due_on, lvl) in existing:
                continue
            created += _insert(case, d, lvl, as_of)
    return {"as_of": as_of.isoformat(), "cases": len(cases), "alerts": seen, "created": created}


def _insert(case: Case, d: Any, lvl: str, as_of: date) -> int:
    committee_owned = d.responsible.value == "committee"
    committee = _committee_of(case.branch_id)
    org_id = committee if committee_owned else case.branch_id
    escalate = committee if lvl.startswith("overdue") and not committee_owned else None
    try:
        with db.session.begin_nested():
            db.session.add(Notification(
                case_id=case.id, rule=d.rule, kind=d.kind, due_on=d.due_on, level=lvl,
                responsible=d.responsible.value, org_id=org_id, escalated_to_id=escalate,
                message=f"{case.person_name}：{REGISTRY[d.rule].zh}（{d.due_on} 到期）",
                created_on=as_of))
        db.session.commit()
        return 1
    except sa_exc.IntegrityError:  # a concurrent sweep inserted it first
        db.session.rollback()
        return 0
