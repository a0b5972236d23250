"""Organisations and their rosters: the units the workflow refers to and the members who act.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow.persistence.db import db
from workflow.persistence.models import Organisation, RosterMember, User
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Invalid
from workflow.steps import DATE_PROBLEM, NAME_MAX, TEXT_MAX, parse_date, text_problem
from workflow.messages import Message

ORG_KINDS = ("committee", "general_branch", "branch")


def create_org(code: str, name: str, kind: str, parent: str | None = None) -> Organisation:
    if kind not in ORG_KINDS:
        raise Invalid("组织类型不正确", {"kind": "必须是 committee / general_branch / branch"})
    if not code or not name:
        raise Invalid("代码和名称必填", {"code": "必填"})
    problems = {k: p for k, v, n in (("code", code, 40), ("name", name, TEXT_MAX))
                if (p := text_problem(v, n))}
    if problems:
        raise Invalid("组织代码或名称不正确", problems)
    if db.session.execute(db.select(Organisation).filter_by(code=code)).scalar_one_or_none():
        raise Invalid(f"组织代码 {code} 已存在", {"code": "已存在"})
    parent_org = access.org_by_code(parent) if parent else None
    if kind != "committee" and parent_org is None:
        raise Invalid("党支部必须隶属于上级党组织", {"parent": "必填"})
    org = Organisation(code=code, name=name, kind=kind, parent=parent_org)
    db.session.add(org)
    db.session.commit()
    return org


def roster_view(m: RosterMember) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "status": m.status, "since": m.since.isoformat(),
            "org": m.org.code}


ROSTER_FIELDS = ("name", "status", "since")
ROSTER_SINCE_MIN = date(1921, 1, 1)  # no one joined the Party before it was founded


def add_roster_member(actor: User, org_code: str, body: Any) -> dict[str, Any]:
    access.require_writer(actor)
    org = access.visible_org(actor, org_code)
    if not isinstance(body, dict):
        raise BadRequest("请求体必须是对象")
    errors = {k: "未知字段" for k in sorted(set(body) - set(ROSTER_FIELDS))}
    name, status, since = body.get("name"), body.get("status"), parse_date(body.get("since"))
    problem = text_problem(name, NAME_MAX)
    if problem:
        errors["name"] = problem
    if status not in ("full", "probationary"):
        errors["status"] = Message("必须是 full 或 probationary")
    if since is None:
        errors["since"] = DATE_PROBLEM
    elif since < ROSTER_SINCE_MIN:
        errors["since"] = Message("不能早于 %(day)s", day=ROSTER_SINCE_MIN.isoformat())
    elif since > today():
        errors["since"] = "不能晚于今天"
    if errors:
        raise Invalid(Message("花名册信息不正确"), errors)
    assert isinstance(name, str) and since is not None
    member = RosterMember(org=org, name=name.strip(), status=str(status), since=since)
    db.session.add(member)
    db.session.commit()
    return roster_view(member)


def list_roster(actor: User, org_code: str) -> dict[str, Any]:
    org = access.visible_org(actor, org_code)
    rows = db.session.execute(db.select(RosterMember).filter_by(org_id=org.id)
                              .order_by(RosterMember.id)).scalars()
    return {"items": [roster_view(m) for m in rows]}
