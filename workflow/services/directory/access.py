"""Who may act: roles, organisation scope and which steps each role records.

Kept apart from the rules on purpose: whether a step is allowed *now* is the workflow's
question; whether *this person* may record it is this module's.
"""
from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from workflow.persistence import reference
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, Organisation, StepRecordRow, User
from workflow.services.errors import Forbidden, NotFound
from workflow.steps import STEPS, Recorder, is_id
from workflow.messages import Message


class Role(StrEnum):
    BRANCH_SECRETARY = "branch_secretary"
    COMMITTEE_ORGANIZER = "committee_organizer"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS = {Role.BRANCH_SECRETARY: "支部书记/组织委员", Role.COMMITTEE_ORGANIZER: "组织员",
               Role.AUDITOR: "检查员（只读）", Role.ADMIN: "系统管理员"}


@functools.cache
def _subtree_query() -> Any:
    org = Organisation.__table__
    down = sa.select(org.c.id).where(org.c.id == sa.bindparam("org_id")).cte("down",
                                                                              recursive=True)
    # UNION (not UNION ALL) stops at a repeated row, so even a cyclic tree ends
    down = down.union(sa.select(org.c.id).join(down, org.c.parent_id == down.c.id))
    return sa.select(down.c.id)


def subtree_ids(org_id: int) -> set[int]:
    """The organisation and everything under it: one recursive query down from it, so a
    branch secretary's request reads one row, not every organisation of the province; kept
    per process (persistence.reference)."""
    return set(reference.kept(("subtree", org_id), lambda: frozenset(
        {org_id, *db.session.execute(_subtree_query(), {"org_id": org_id}).scalars()})))


def org_by_code(code: str) -> Organisation:
    if isinstance(code, str) and "\x00" in code:  # PostgreSQL text cannot hold NUL
        raise NotFound("党组织不存在")
    org = db.session.execute(db.select(Organisation).filter_by(code=code)).scalar_one_or_none()
    if org is None:
        raise NotFound(Message("党组织 %(code)s 不存在", code=code))
    return org


def visible_org(actor: User, code: str) -> Organisation:
    org = org_by_code(code)
    if org.id not in subtree_ids(actor.org_id):
        raise NotFound(Message("党组织 %(code)s 不存在或不在您的管理范围内", code=code))
    return org


def visible_branches(actor: User) -> list[tuple[str, str]]:
    """(code, name) of the branches in the actor's scope, for a page's branch filter."""
    return [(o.code, o.name) for o in db.session.execute(
        db.select(Organisation).where(Organisation.id.in_(subtree_ids(actor.org_id)),
                                      Organisation.kind == "branch")
        .order_by(Organisation.code)).scalars()]


@functools.cache
def _case_query(lock: bool) -> Any:
    """Built once (it runs on every case read and write); with its branch, which every
    caller shows or replays with."""
    query = db.select(Case).where(Case.id == sa.bindparam("case_id"))
    return query.with_for_update() if lock else query.options(joinedload(Case.branch))


def visible_case(actor: User, case_id: int, *, lock: bool = False) -> Case:
    if not is_id(case_id):
        raise NotFound(Message("案件 %(case)s 不存在", case=case_id))
    case = db.session.execute(_case_query(lock), {"case_id": case_id}).scalar_one_or_none()
    # up the case's own chain (one short query), not down the actor's whole tree
    if case is None or actor.org_id not in repo.ancestors(case.branch_id):
        raise NotFound(Message("案件 %(case)s 不存在或不在您的管理范围内", case=case_id))
    return case


def recorder_role(actor: User) -> str:
    return "committee" if actor.role == Role.COMMITTEE_ORGANIZER else "branch"


def require_writer(actor: User) -> None:
    if actor.role not in (Role.BRANCH_SECRETARY, Role.COMMITTEE_ORGANIZER):
        raise Forbidden("您的角色只能查看，不能修改记录")


def require_committee(actor: User) -> None:
    if actor.role != Role.COMMITTEE_ORGANIZER:
        raise Forbidden("只有上级党委组织员可以进行此操作")


def require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("只有系统管理员可以进行此操作")


def check_may_record(actor: User, step: str, corrected: StepRecordRow | None = None) -> None:
    """Branches record branch steps, the committee committee steps; either may close."""
    require_writer(actor)
    recorder = STEPS[step].recorder
    committee = actor.role == Role.COMMITTEE_ORGANIZER
    if recorder is Recorder.COMMITTEE and not committee:
        raise Forbidden(f"「{STEPS[step].zh}」只能由上级党委记录", rule="committee_step_by_branch")
    if recorder is Recorder.BRANCH and committee:
        raise Forbidden(f"「{STEPS[step].zh}」由党支部记录，上级党委不能代为记录")
    if corrected is not None and not committee and corrected.recorded_by_role != "branch":
        raise Forbidden("党支部只能更正本支部记录的步骤；上级党委的记录请由上级党委更正")
