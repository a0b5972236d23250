"""Training courses (item 14) the committee runs for activists.

Attendance is a recorded step (`training_attended`) on the activist's case, so the rubric reads
it from the history like everything else; the course row only says who was invited and when.
"""
from __future__ import annotations

import math
from typing import Any

from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Training, TrainingInvitee, User
from workflow.replay import apply_corrections
from workflow.services import cases, clock
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from workflow.steps import DATE_PROBLEM, HOURS_MAX, TEXT_MAX, is_id, parse_date, text_problem

TRAINING_FIELDS = ("title", "number", "start_on", "end_on", "hours", "invitees")
ATTENDANCE_FIELDS = ("case_id", "attended", "acknowledge", "reason")
CHANGE_FIELDS = ("case_id", "attended", "reason")
INVITEES_MAX = 500
NUMBER_MAX = 50  # a course number is the committee's own text: "2026-第3期"
CHANGE_REASON_MAX = 500  # as a correction's reason on the case page


def _training_view(t: Training, invitees: list[int]) -> dict[str, Any]:
    return {"id": t.id, "title": t.title, "number": t.number or "",
            "start_on": t.start_on.isoformat(),
            "end_on": t.end_on.isoformat(), "hours": t.hours, "org": access_code(t.org_id),
            "invitees": invitees}


def access_code(org_id: int) -> str:
    from workflow.persistence.models import Organisation
    org = db.session.get(Organisation, org_id)
    return org.code if org else ""


def create_training(actor: User, body: Any) -> dict[str, Any]:
    access.require_committee(actor)
    if not isinstance(body, dict):
        raise BadRequest("请求体必须是对象")
    start, end = parse_date(body.get("start_on")), parse_date(body.get("end_on"))
    errors = {k: "未知字段" for k in sorted(set(body) - set(TRAINING_FIELDS))}
    problem = text_problem(body.get("title"), TEXT_MAX)
    if problem:
        errors["title"] = problem
    number = body.get("number", "")
    if number not in (None, ""):
        problem = text_problem(number, NUMBER_MAX)
        if problem:
            errors["number"] = problem
    if start is None:
        errors["start_on"] = DATE_PROBLEM
    if end is None or (start and end < start):
        errors["end_on"] = "必须是不早于开始日期的有效日期"
    hours = body.get("hours")
    # the range first: math.isfinite of an integer too large for a float raises
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) \
            or not 0 < hours <= HOURS_MAX or not math.isfinite(hours):
        errors["hours"] = f"必须是大于 0、不超过 {HOURS_MAX} 的数"
    invitees = body.get("invitees", [])
    if not isinstance(invitees, list) or not all(is_id(i) for i in invitees):
        errors["invitees"] = "必须是案件编号列表"
    elif len(invitees) > INVITEES_MAX:
        errors["invitees"] = f"一次最多邀请 {INVITEES_MAX} 人"
    if errors:
        raise Invalid("培训班信息不正确", errors)
    invited = [access.visible_case(actor, i) for i in dict.fromkeys(invitees)]
    not_activists = [c.id for c in invited if c.stage != "activist"]
    if not_activists:
        raise Invalid("只能邀请入党积极分子", {"invitees": f"这些案件不是积极分子：{not_activists}"})
    assert start and end
    t = Training(org_id=actor.org_id, title=body["title"].strip(),
                 number=(number or "").strip(), start_on=start, end_on=end, hours=float(hours))
    db.session.add(t)
    db.session.flush()
    for c in invited:
        db.session.add(TrainingInvitee(training_id=t.id, case_id=c.id))
    db.session.commit()
    return _training_view(t, [c.id for c in invited])


def _course_in_scope(actor: User, training_id: int, body: Any) -> Training:
    """The committee's course an attendance body is about (in the actor's scope)."""
    access.require_committee(actor)
    t = db.session.get(Training, training_id)
    if t is None or t.org_id not in access.subtree_ids(actor.org_id):
        raise NotFound(f"培训班 {training_id} 不存在")
    if not isinstance(body, dict):
        raise BadRequest("请求体必须是对象")
    return t


def _is_invited(training_id: int, case_id: Any) -> bool:
    return is_id(case_id) and db.session.get(TrainingInvitee, (training_id, case_id)) is not None


def record_attendance(actor: User, training_id: int, body: Any) -> dict[str, Any]:
    t = _course_in_scope(actor, training_id, body)
    unknown = {k: "未知字段" for k in sorted(set(body) - set(ATTENDANCE_FIELDS))}
    if unknown:
        raise Invalid("出勤信息不正确", unknown)
    if not isinstance(body.get("attended"), bool):
        raise Invalid("出勤信息不正确", {"attended": "必须是 true 或 false"})
    case_id = body.get("case_id")
    if not _is_invited(training_id, case_id):
        raise Invalid("该案件不在培训班邀请名单中", {"case_id": "不在邀请名单中"})
    if _records_of(case_id, t.id):
        # a second record would change the attendance silently: a change is a correction
        raise Conflict("已记录该人的出勤；如需改动，请提交更正并说明原因",
                       fields={"case_id": "已有出勤记录"})
    data = {"training_id": t.id, "attended": body["attended"], "hours": t.hours if body["attended"] else 0}
    return cases.record_step(actor, case_id, "training_attended", t.end_on.isoformat(), data,
                             acknowledge=bool(body.get("acknowledge")), reason=body.get("reason"))


def change_attendance(actor: User, training_id: int, body: Any) -> dict[str, Any]:
    """Change a recorded attendance later: a `step_corrected` of each `training_attended` record
    of this course whose (corrected) value differs, with the reason, so the history keeps what
    was recorded first, who changed it and why; never an edit in place. Returns the last
    correction and `name`, the person's name for the confirmation."""
    t = _course_in_scope(actor, training_id, body)
    errors = {k: "未知字段" for k in sorted(set(body) - set(CHANGE_FIELDS))}
    if not isinstance(body.get("attended"), bool):
        errors["attended"] = "必须是 true 或 false"
    problem = text_problem(body.get("reason"), CHANGE_REASON_MAX)
    if problem:
        errors["reason"] = "必须说明改动的原因" if problem in ("必填", "必须填写文字") else problem
    case_id = body.get("case_id")
    if not _is_invited(training_id, case_id):
        errors["case_id"] = "不在邀请名单中"
    if errors:
        raise Invalid("出勤改动不正确", errors)
    records = _records_of(case_id, t.id)
    if not records:
        raise Invalid("还没有出勤记录，请先记录出勤", {"case_id": "没有出勤记录"})
    attended = body["attended"]
    differing = [r for r in records if (r.data.get("attended") is True) != attended]
    if not differing:
        raise Invalid("出勤情况没有变化", {"attended": "与已记录的相同"})
    fields = {"attended": attended, "hours": t.hours if attended else 0}
    on = clock.today().isoformat()
    result: dict[str, Any] = {}
    for r in differing:  # one transaction: all of them or none
        result = cases.record_step(actor, case_id, "step_corrected", on,
                                   {"corrects": r.seq, "fields": fields,
                                    "reason": body["reason"].strip()}, commit=False)
    db.session.commit()
    case = db.session.get(Case, case_id)
    return {**result, "name": case.person_name if case else ""}


def _records_of(case_id: int, training_id: int) -> list[Any]:
    """This course's attendance records of the case, corrections folded in."""
    records = apply_corrections([repo.to_record(r) for r in repo.step_rows(case_id)], [])
    return [r for r in records
            if r.step == "training_attended" and r.data.get("training_id") == training_id]


def trainings_for_rubric(committee_ids: set[int]) -> list[Training]:
    return list(db.session.execute(
        db.select(Training).where(Training.org_id.in_(committee_ids))).scalars())


def _require_reader(actor: User) -> None:
    """Courses are the committee's: its organisers run them, its auditors read them."""
    if actor.role not in (access.Role.COMMITTEE_ORGANIZER, access.Role.AUDITOR):
        raise Forbidden("只有上级党委可以查看培训班")


def _visible_training(actor: User, training_id: int) -> Training:
    _require_reader(actor)
    t = db.session.get(Training, training_id)
    if t is None or t.org_id not in access.subtree_ids(actor.org_id):
        raise NotFound(f"培训班 {training_id} 不存在")
    return t


def training_list(actor: User) -> list[dict[str, Any]]:
    _require_reader(actor)
    rows = db.session.execute(db.select(Training).where(
        Training.org_id.in_(access.subtree_ids(actor.org_id)))
        .order_by(Training.start_on.desc(), Training.id.desc())).scalars()
    return [{**_training_view(t, []), "invited": len(_invited(t.id))} for t in rows]


def _invited(training_id: int) -> list[int]:
    return list(db.session.execute(db.select(TrainingInvitee.case_id)
                                   .filter_by(training_id=training_id)
                                   .order_by(TrainingInvitee.case_id)).scalars())


def _attendance(case_id: int, training_id: int) -> bool | None:
    """Read as the rubric reads it (corrections folded in; one attended record suffices), so the
    course page never contradicts item 14: True, False (recorded absent) or None (no record)."""
    found = [r.data.get("attended") is True for r in _records_of(case_id, training_id)]
    return any(found) if found else None


def training_detail(actor: User, training_id: int) -> dict[str, Any]:
    """The course, each invitee with branch and attendance (true, false, or None: not recorded)."""
    t = _visible_training(actor, training_id)
    ids = _invited(t.id)
    cases_by_id = {c.id: c for c in db.session.execute(
        db.select(Case).where(Case.id.in_(ids))).scalars()}
    invitees = [{"case_id": cid, "name": cases_by_id[cid].person_name,
                 "branch": cases_by_id[cid].branch.name, "stage": cases_by_id[cid].stage,
                 "attended": _attendance(cid, t.id)} for cid in ids]
    return {**_training_view(t, ids), "invitees": invitees}


def activist_choices(actor: User) -> list[dict[str, Any]]:
    """The activists of the committee's branches, grouped by branch, for the invitation list."""
    access.require_committee(actor)
    rows = db.session.execute(db.select(Case).where(
        Case.branch_id.in_(access.subtree_ids(actor.org_id)), Case.stage == "activist")
        .order_by(Case.branch_id, Case.person_name, Case.id)).scalars()
    groups: dict[str, dict[str, Any]] = {}
    for c in rows:
        group = groups.setdefault(c.branch.code, {"org": c.branch.code, "name": c.branch.name,
                                                  "cases": []})
        group["cases"].append({"id": c.id, "name": c.person_name})
    return list(groups.values())
