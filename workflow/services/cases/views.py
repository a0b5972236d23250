"""Plain-dict views of cases and their parts, shared by the API and the pages."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from workflow.deadlines import label as deadline_label
from workflow.history import Deadline, NextStep, Replay, Violation
from workflow.persistence.db import db
from workflow.persistence.models import Case, Document, RosterMember, User
from workflow.replay import state_label
from workflow.rules import REGISTRY
from workflow.steps import DOCUMENT_LABELS, STEPS


def violation(v: Violation, lang: str = "zh") -> dict[str, Any]:
    rule = REGISTRY[v.rule]
    return {"rule": v.rule, "message": rule.message(lang), "article": rule.article,
            "responsible": v.responsible.value, "detail": v.detail,
            "step_record_id": v.step_seq, "on": v.on.isoformat(),
            "due_on": v.due_on.isoformat() if v.due_on else None}


def deadline(d: Deadline, lang: str = "zh") -> dict[str, Any]:
    """Named by what is due (`message`), with the rule it protects cited beside it."""
    rule = REGISTRY[d.rule]
    return {"rule": d.rule, "kind": d.kind, "due_on": d.due_on.isoformat(),
            "responsible": d.responsible.value, "status": d.status.value,
            "message": deadline_label(d.kind, lang), "rule_message": rule.message(lang),
            "article": rule.article}


def next_step(n: NextStep) -> dict[str, Any]:
    return {"step": n.step, "label": STEPS[n.step].zh, "earliest_on": n.earliest_on.isoformat(),
            "recorder": STEPS[n.step].recorder.value}


def document(d: Document) -> dict[str, Any]:
    return {"id": d.id, "doc_type": d.doc_type, "label": DOCUMENT_LABELS.get(d.doc_type, d.doc_type),
            "on_file": d.on_file, "reference": d.reference, "filename": d.filename,
            "size": d.size, "attached_on": d.attached_on.isoformat()}


def person(case: Case) -> dict[str, Any]:
    return dict(case.person)  # the clear ID number is never stored; only the masked form


# A step may be an ORM row or a plain row (the case page reads plain ones): its recorder and
# decider are looked up by key, from the session's identity map when loaded (the actor usually
# is), else by one query each, as the ORM's relationships would.

def recorder(row: Any) -> str | None:
    user = db.session.get(User, row.recorded_by_id) if row.recorded_by_id is not None else None
    return user.username if user else None


def decided_by(row: Any) -> dict[str, Any] | None:
    """A committee decision's decider (roster member), None on every other record."""
    m = (db.session.get(RosterMember, row.decided_by_member_id)
         if row.decided_by_member_id is not None else None)
    return {"id": m.id, "name": m.name, "org": m.org.code} if m else None


def _step(row: Any, effective: dict[int, Any], replay: Replay,
          docs: dict[int | None, list[Document]],
          missing_by_seq: dict[int, tuple[str, ...]]) -> dict[str, Any]:
    eff = effective.get(row.id)
    missing = missing_by_seq.get(row.id, ())
    corrected = bool(eff and (eff.data != row.data or eff.occurred_on != row.occurred_on))
    return {
        "id": row.id, "step": row.step, "label": STEPS[row.step].zh,
        "occurred_on": (eff.occurred_on if eff else row.occurred_on).isoformat(),
        "data": dict(eff.data) if eff else row.data, "original_data": row.data,
        "corrected": corrected,
        # the record as first written: a correction is a new record, never an edit
        "original": {"occurred_on": row.occurred_on.isoformat(), "data": row.data}
        if corrected else None,
        "note": row.note, "recorded_at": row.recorded_at.isoformat(timespec="seconds"),
        "recorded_by": recorder(row),
        "recorded_by_role": row.recorded_by_role,
        "acknowledged_reason": row.acknowledged_reason,
        "exemptions": row.exemptions or [],
        "decided_by": decided_by(row), "session_ref": row.session_ref,
        "violations": [violation(v) for v in replay.violations_of(row.id)],
        "documents": [document(d) for d in docs.get(row.id, ())],
        "missing_documents": list(missing),
    }


def summary(case: Case) -> dict[str, Any]:
    return {"id": case.id, "branch": case.branch.code, "branch_name": case.branch.name,
            "person": person(case), "stage": case.stage, "state": case.state,
            "state_label": state_label(case.state), "version": case.version,
            "application_date": case.application_date.isoformat()}


def case(case: Case, rows: Iterable[Any], docs: Sequence[Document],
         replay: Replay) -> dict[str, Any]:
    effective = {r.seq: r for r in replay.effective}
    missing: dict[int, tuple[str, ...]] = {}
    for p in replay.paperwork:
        missing.setdefault(p.step_seq, p.missing)  # the first, as a scan would find it
    by_step: dict[int | None, list[Document]] = {}
    for d in docs:
        by_step.setdefault(d.step_record_id, []).append(d)
    return {
        **summary(case),
        "stage": replay.stage, "state": replay.state, "state_label": state_label(replay.state),
        "steps": [_step(r, effective, replay, by_step, missing) for r in rows],
        "violations": [violation(v) for v in replay.violations],
        "deadlines": [deadline(d) for d in replay.deadlines],
        "next_steps": [n.step for n in replay.next_steps],
        "next": [next_step(n) for n in replay.next_steps],
        "warnings": list(replay.warnings),
    }
