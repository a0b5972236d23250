"""Alerts and the rubric over the caller's scope, from replayed histories."""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow import alerts, rubric
from workflow.history import Replay
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Organisation, StepRecordRow, TrainingInvitee, User
from workflow.replay import replay
from workflow.services import access
from workflow.services.committee import trainings_for_rubric
from workflow.services.errors import BadRequest, Invalid
from workflow.services.views import violation


def _replays(case_rows: list[Case], as_of: date) -> dict[int, Replay]:
    calendar = repo.working_calendar()
    books: dict[int, Any] = {}
    result = {}
    for case in case_rows:
        if case.branch_id not in books:
            books[case.branch_id] = repo.rulebook_for(case.branch_id)
        records = [repo.to_record(r) for r in repo.step_rows(case.id)]
        result[case.id] = replay(records, as_of, documents=repo.to_documents(repo.document_rows(case.id)),
                                 rulebook=books[case.branch_id], calendar=calendar,
                                 validate=False, org=case.branch.code)
    return result


def alert_list(actor: User, as_of: date, org: str | None = None) -> dict[str, Any]:
    scope = access.subtree_ids(actor.org_id)
    if org:
        scope &= access.subtree_ids(access.visible_org(actor, org).id)
    rows = list(db.session.execute(db.select(Case).where(
        Case.branch_id.in_(scope), Case.stage.in_(("applicant", "activist", "candidate",
                                                   "probationary")))).scalars())
    items = []
    for case_id, r in sorted(_replays(rows, as_of).items()):
        for d in r.deadlines:
            lvl = alerts.level(d, as_of)
            if lvl:
                items.append({"case_id": case_id, "rule": d.rule, "kind": d.kind,
                              "due_on": d.due_on.isoformat(), "level": lvl,
                              "responsible": d.responsible.value, "org": d.org})
    return {"items": items}


def _cases_of(branch_id: int) -> list[Case]:
    moved = db.select(StepRecordRow.case_id).where(StepRecordRow.step == "case_transferred")
    return list(db.session.execute(db.select(Case).where(
        (Case.branch_id == branch_id) | Case.id.in_(moved))).scalars())


def branch_rubric(actor: User, org: str, year: Any, as_of: date) -> dict[str, Any]:
    return _score(access.visible_org(actor, org), year, as_of)


def system_rubric(org: str, year: Any, as_of: date) -> dict[str, Any]:
    """The CLI's view: the whole system, no user scope."""
    return _score(access.org_by_code(org), year, as_of)


def _score(branch: Organisation, year: Any, as_of: date) -> dict[str, Any]:
    try:
        year_n = int(year)
    except (TypeError, ValueError):
        raise BadRequest("year 必须是年份，例如 2025") from None
    if not 1950 <= year_n <= 2200:
        raise BadRequest("year 必须是年份，例如 2025")
    if branch.kind != "branch":
        raise Invalid("考核按党支部计分", {"org": "请指定党支部代码"})
    committees = set(repo.ancestors(branch.id))
    result = rubric.score(branch.code, year_n, as_of, _replays(_cases_of(branch.id), as_of),
                          [rubric.Training(t.id, t.title, t.start_on, t.end_on,
                                           tuple(i.case_id for i in _invitees(t.id)))
                           for t in trainings_for_rubric(committees)])
    return rubric_view(result)


def _invitees(training_id: int) -> list[TrainingInvitee]:
    return list(db.session.execute(db.select(TrainingInvitee).filter_by(training_id=training_id)).scalars())


def _deduction(d: rubric.Deduction) -> dict[str, Any]:
    return {"kind": d.kind, "case_id": d.case_id, "rule": d.rule,
            "step_record_id": d.step_record_id, "points": d.points, "message": d.message,
            "on": d.on.isoformat(), "fix": d.fix}


def rubric_view(r: rubric.Rubric) -> dict[str, Any]:
    return {"org": r.org, "year": r.year, "as_of": r.as_of.isoformat(),
            "items": {k: {"max": i.max, "score": i.score,
                          "deductions": [_deduction(d) for d in i.deductions]}
                      for k, i in r.items.items()},
            "committee": [_deduction(d) for d in r.committee]}


__all__ = ["alert_list", "branch_rubric", "rubric_view", "violation"]
