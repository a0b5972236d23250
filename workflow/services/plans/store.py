"""Setting, adjusting and reading yearly plans and the branch's measures.

The committee sets a branch's plan once per year and adjusts it with a reason; each adjustment
is a new version from the organisation's today on (the first version covers the whole year).
The branch records its measures. Nothing is edited or deleted: the versions are the history.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from workflow import plans
from workflow.persistence.db import db
from workflow.persistence.models import (
    DevelopmentPlan,
    Organisation,
    PlanMeasure,
    PlanVersionRow,
    User,
)
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from workflow.steps import (LONG_TEXT_MAX, TEXT_MAX, VALID_DATE, YEAR_MAX, is_id, parse_date,
                            text_problem)
from workflow.messages import Message

PLAN_YEAR_MIN = 1990  # the first rules that spoke of planned development
REASON_MIN = 4
PLAN_FIELDS = ("org", "year", "quota", "targets")
ADJUST_FIELDS = ("quota", "targets", "reason", "version")
MEASURE_FIELDS = ("text", "owner", "due_on")


def parse_year(value: Any, query: bool = False) -> int:
    """A plan's year: a JSON integer in a body (422 naming `year`), digits in a query (400)."""
    if query and isinstance(value, str) and value.strip().isdigit() and len(value) <= 4:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not (
            PLAN_YEAR_MIN <= value <= YEAR_MAX):
        reason = Message("必须是 %(low)d–%(high)d 之间的年份", low=PLAN_YEAR_MIN, high=YEAR_MAX)
        if query:
            raise BadRequest(f"year {reason}", fields={"year": reason})
        raise Invalid(Message("年度不正确"), {"year": reason})
    return value


def _quota_and_targets(body: dict[str, Any]) -> tuple[int, dict[str, int]]:
    quota = body.get("quota")
    problem = plans.check_quota(quota)
    if problem:
        raise Invalid(Message("计划发展人数不正确"), {"quota": problem})
    targets = body.get("targets") or {}
    if not isinstance(targets, dict):
        raise Invalid(Message("结构指标不正确"), {"targets": Message("必须是指标名到人数的对象")})
    problems = plans.check_targets(targets, quota)  # type: ignore[arg-type]
    if problems:
        raise Invalid(Message("结构指标不正确"), problems)
    return quota, {k: targets[k] for k in plans.TARGETS if k in targets}  # type: ignore[return-value]


def _branch(actor: User, code: Any) -> Organisation:
    if not isinstance(code, str) or not code.strip():
        raise Invalid(Message("请指定党支部"), {"org": Message("必填：党支部代码")})
    org = access.visible_org(actor, code)
    if org.kind != "branch":
        raise Invalid(Message("年度计划下达到党支部"), {"org": "请指定党支部代码"})
    return org


def _commit() -> None:
    try:
        db.session.commit()
    except sa_exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict(Message("计划已被他人修改，请刷新后重试")) from exc


def create(actor: User, body: dict[str, Any]) -> dict[str, Any]:
    """The committee sets a branch's plan for a year (version 1)."""
    access.require_committee(actor)
    org = _branch(actor, body.get("org"))
    year = parse_year(body.get("year"))
    quota, targets = _quota_and_targets(body)
    if _find(org.id, year) is not None:
        raise Conflict(Message("%(org)s %(year)d 年的发展计划已存在，请使用调整", org=org.name,
                               year=year), field="year")
    plan = DevelopmentPlan(org_id=org.id, year=year, created_by_id=actor.id)
    db.session.add(plan)
    db.session.flush()
    db.session.add(PlanVersionRow(plan_id=plan.id, version=1, quota=quota, targets=targets,
                                  effective_on=today(), reason="", recorded_by_id=actor.id))
    _commit()
    return view(_get(plan.id))


def adjust(actor: User, plan_id: Any, body: dict[str, Any]) -> dict[str, Any]:
    """A new version of the plan with a reason, in force from today on."""
    access.require_committee(actor)
    plan = visible_plan(actor, plan_id)
    quota, targets = _quota_and_targets(body)
    reason = body.get("reason")
    if not isinstance(reason, str) or len(reason.strip()) < REASON_MIN:
        raise Invalid(Message("请说明调整原因"),
                      {"reason": Message("必填，至少 %(n)d 个字", n=REASON_MIN)})
    problem = text_problem(reason, LONG_TEXT_MAX)
    if problem:
        raise Invalid(Message("调整原因不正确"), {"reason": problem})
    last = plan.versions[-1]
    expected = body.get("version")
    if expected is not None and expected != last.version:
        raise Conflict(Message("计划已调整为第 %(v)d 版，请刷新后重试", v=last.version))
    db.session.add(PlanVersionRow(plan_id=plan.id, version=last.version + 1, quota=quota,
                                  targets=targets, effective_on=today(), reason=reason.strip(),
                                  recorded_by_id=actor.id))
    _commit()
    return view(_get(plan.id))


def add_measure(actor: User, plan_id: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The branch records a measure of its plan: what, who, by when."""
    access.require_writer(actor)
    plan = visible_plan(actor, plan_id)
    if actor.org_id != plan.org_id:
        raise Forbidden(Message("落实措施由本党支部填写"))
    fields: dict[str, str] = {}
    text, owner = body.get("text"), body.get("owner")
    for name, value, limit in (("text", text, LONG_TEXT_MAX), ("owner", owner, TEXT_MAX)):
        if not isinstance(value, str) or not value.strip():
            fields[name] = "必填"
        else:
            problem = text_problem(value, limit)
            if problem:
                fields[name] = problem
    due = body.get("due_on")
    due_on = None
    if due not in (None, ""):
        due_on = parse_date(due)
        if due_on is None:
            fields["due_on"] = VALID_DATE
    if fields:
        raise Invalid(Message("措施填写不完整"), fields)
    row = PlanMeasure(plan_id=plan.id, text=text.strip(), owner=owner.strip(),  # type: ignore[union-attr]
                      due_on=due_on, recorded_by_id=actor.id)
    db.session.add(row)
    _commit()
    return view(_get(plan.id))


def _find(org_id: int, year: int) -> DevelopmentPlan | None:
    return db.session.execute(db.select(DevelopmentPlan).filter_by(org_id=org_id, year=year)
                              ).scalar_one_or_none()


def _get(plan_id: int) -> DevelopmentPlan:
    db.session.expire_all()  # the versions and measures just added
    return db.session.get(DevelopmentPlan, plan_id)  # type: ignore[return-value]


def visible_plan(actor: User, plan_id: Any) -> DevelopmentPlan:
    if not is_id(plan_id):
        raise NotFound(Message("计划 %(id)s 不存在", id=plan_id))
    plan = db.session.get(DevelopmentPlan, int(plan_id))
    if plan is None or plan.org_id not in access.subtree_ids(actor.org_id):
        raise NotFound(Message("计划 %(id)s 不存在或不在您的管理范围内", id=plan_id))
    return plan


def plans_of(org_ids: list[int], year: int) -> dict[int, plans.Plan]:
    """The core's Plan of each branch that has one for the year, keyed by branch id."""
    if not org_ids:
        return {}
    rows = db.session.execute(
        db.select(DevelopmentPlan, Organisation.code).join(Organisation)
        .where(DevelopmentPlan.org_id.in_(org_ids), DevelopmentPlan.year == year)).all()
    return {plan.org_id: as_plan(plan, code) for plan, code in rows}


def as_plan(plan: DevelopmentPlan, code: str | None = None) -> plans.Plan:
    return plans.Plan(code or plan.org.code, plan.year, tuple(
        plans.PlanVersion(v.version, v.quota, dict(v.targets or {}), v.effective_on, v.reason)
        for v in plan.versions))


def years_with_plans(org_ids: list[int]) -> list[int]:
    return list(db.session.execute(
        sa.select(DevelopmentPlan.year).where(DevelopmentPlan.org_id.in_(org_ids))
        .distinct().order_by(DevelopmentPlan.year)).scalars())


def _user(u: User | None) -> str | None:
    return u.display_name or u.username if u is not None else None


def view(plan: DevelopmentPlan) -> dict[str, Any]:
    current = plan.versions[-1]
    return {
        "id": plan.id, "org": plan.org.code, "org_name": plan.org.name, "year": plan.year,
        "version": current.version, "quota": current.quota, "targets": dict(current.targets),
        "versions": [{"version": v.version, "quota": v.quota, "targets": dict(v.targets),
                      "effective_on": v.effective_on.isoformat(), "reason": v.reason,
                      "recorded_by": _user(v.recorded_by),
                      "recorded_at": v.recorded_at.isoformat(timespec="seconds")}
                     for v in plan.versions],
        "measures": [{"id": m.id, "text": m.text, "owner": m.owner,
                      "due_on": m.due_on.isoformat() if m.due_on else None,
                      "recorded_by": _user(m.recorded_by),
                      "recorded_at": m.recorded_at.isoformat(timespec="seconds")}
                     for m in plan.measures],
    }

