"""Administration: users, rule-set settings per organisation, the holiday table."""
from __future__ import annotations

from datetime import date
from typing import Any

from workflow.persistence.db import db
from workflow.persistence.models import HolidayOverride, Organisation, RuleSetting, User
from workflow.rulesets import DEFAULT_SETTINGS, RULE_SETS
from workflow.services.alerts import deadline_rows
from workflow.services.directory import access
from workflow.services.errors import Invalid
from workflow.steps import TEXT_MAX, VALID_DATE, optional_text_problem, parse_date
from workflow.messages import Message


def users(actor: User) -> list[User]:
    access.require_admin(actor)
    return list(db.session.execute(db.select(User).order_by(User.org_id, User.username)).scalars())


def organisations() -> list[Organisation]:
    return list(db.session.execute(db.select(Organisation).order_by(Organisation.id)).scalars())


def settings(actor: User) -> dict[str, Any]:
    access.require_admin(actor)
    rows = db.session.execute(db.select(RuleSetting).order_by(RuleSetting.effective_from)).scalars()
    return {"rule_sets": RULE_SETS, "defaults": DEFAULT_SETTINGS, "overrides": list(rows)}


def _coerce(key: str, raw: Any) -> Any:
    default = DEFAULT_SETTINGS[key]
    if isinstance(default, bool):
        if raw in (True, "true", "1", "on", "是"):
            return True
        if raw in (False, "false", "0", "off", "否"):
            return False
        raise Invalid(Message("取值不正确"), {"value": Message("必须是 是/否")})
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Invalid(Message("取值不正确"), {"value": Message("必须是整数")}) from None
    if not 0 <= value <= 24:
        raise Invalid(Message("取值不正确"),
                      {"value": Message("必须在 %(low)d–%(high)d 之间", low=0, high=24)})
    return value


def add_setting(actor: User, org_code: str, key: str, raw: Any, effective_from: Any) -> RuleSetting:
    access.require_admin(actor)
    if key not in DEFAULT_SETTINGS:
        raise Invalid(Message("未知的规则设置"), {"key": Message("不是可设置的项目")})
    day = parse_date(effective_from)
    if day is None:
        raise Invalid(Message("生效日期不正确"), {"effective_from": VALID_DATE})
    row = RuleSetting(org_id=access.org_by_code(org_code).id, key=key, value=_coerce(key, raw),
                      effective_from=day)
    db.session.add(row)
    # due dates moved without any case changing: the subtree's rows are rebuilt in the
    # background (deadline_rows.invalidate_deadlines), in the same transaction as the setting
    deadline_rows.invalidate_deadlines(sorted(access.subtree_ids(row.org_id)))
    db.session.commit()
    return row


def holidays() -> list[HolidayOverride]:
    return list(db.session.execute(db.select(HolidayOverride).order_by(HolidayOverride.day)).scalars())


def set_holiday(actor: User, day_raw: Any, is_workday: bool, note: str) -> HolidayOverride:
    access.require_admin(actor)
    day = parse_date(day_raw)
    if day is None or not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise Invalid(Message("日期不正确"), {"day": VALID_DATE})
    problem = optional_text_problem(note, TEXT_MAX)
    if problem:
        raise Invalid(Message("说明不正确"), {"note": problem})
    note = (note or "").strip()
    row = db.session.get(HolidayOverride, day) or HolidayOverride(day=day)
    row.is_workday, row.note = is_workday, note
    db.session.add(row)
    deadline_rows.invalidate_deadlines()  # every case's working days: rebuilt in the background
    db.session.commit()
    return row
