"""Who read or exported personal data: the append-only access log, and reading it.

Every request that discloses people's data leaves one row, written by the adapter right after
the service call that read the data succeeded and before the answer goes out: a case page or
GET /api/v1/cases/{id} (`view_case`), a list or report page that names people (one row per
request, `subjects` = how many people it named; a list naming nobody leaves no row), every
export and printed form, the import preview, the calendar feed, and the CLI backup. The row is
one INSERT committed at once, so it holds no lock beyond that statement; if it cannot be
written the request fails (the adapter lets the error through), so there are no silent reads.

Writes are not logged here: what a write records is kept, with who and when, by the history.

Reading the log: the committee organiser and the auditor see the accesses made by accounts of
their organisation's subtree; the admin sees everything (including CLI rows, which have no
account); branch accounts may not read it (403). The log names cases by id, not by person;
a list's detail keeps the branch and stage filters but only that a search was made
(`q=(已检索)`), never the search text, which is usually part of a name. This module only
inserts and selects; there is no update or delete, and the model refuses both.
"""
from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from workflow.persistence.db import db
from workflow.persistence.models import Organisation, PersonalDataAccess, User, utcnow
from workflow.services import clock
from workflow.services.directory import access
from workflow.services.directory.access import Role
from workflow.services.errors import BadRequest, Forbidden
from workflow.steps import is_id, parse_date


class Action(StrEnum):
    VIEW_CASE = "view_case"
    LIST_CASES = "list_cases"
    VIEW_REPORT = "view_report"
    VIEW_ROSTER = "view_roster"
    EXPORT_CASE_LIST = "export_case_list"
    EXPORT_IMPORT_FORMAT = "export_import_format"
    EXPORT_CASE_RECORD = "export_case_record"
    PRINT_DOCUMENT = "print_document"
    EXPORT_REPORT = "export_report"
    EXPORT_EVENTS_XES = "export_events_xes"
    EXPORT_CALENDAR = "export_calendar"
    IMPORT_PREVIEW = "import_preview"
    BACKUP = "backup"
    RESTORE = "restore"
    DOWNLOAD_DOCUMENT = "download_document"  # an uploaded file of a case


ACTION_LABELS: dict[str, str] = {
    Action.VIEW_CASE: "查看案件", Action.LIST_CASES: "查看案件列表",
    Action.VIEW_REPORT: "查看考核扣分明细", Action.VIEW_ROSTER: "查看花名册",
    Action.EXPORT_CASE_LIST: "导出案件清单", Action.EXPORT_IMPORT_FORMAT: "导出案件（导入格式）",
    Action.EXPORT_CASE_RECORD: "导出全程纪实表", Action.PRINT_DOCUMENT: "生成打印表单",
    Action.EXPORT_REPORT: "导出考核报表", Action.EXPORT_EVENTS_XES: "导出事件日志（XES）",
    Action.EXPORT_CALENDAR: "日历订阅", Action.IMPORT_PREVIEW: "导入预览",
    Action.BACKUP: "数据库备份", Action.RESTORE: "数据库恢复",
    Action.DOWNLOAD_DOCUMENT: "下载材料文件",
}
# Reads that happen as people work (and a calendar polling every few hours): only worth a row
# when they named somebody. Deliberate exports and backups are always logged.
ONLY_WHEN_NAMED = {Action.LIST_CASES, Action.VIEW_REPORT, Action.VIEW_ROSTER,
                   Action.EXPORT_CALENDAR}
CHANNELS = ("web", "api", "cli")
CHANNEL_LABELS = {"web": "网页", "api": "API", "cli": "命令行"}
# The fixed words the pages, the API and the CLI write into `detail` (beside data: codes,
# years, ids, file names), so that a page in English can show them in English; a detail is
# stored as written, in Chinese. Add a phrase here when a new call writes one.
DETAIL_PHRASES = ("工作台", "党委工作台", "提醒", "培训班", "培训班邀请名单", "花名册", "发展计划",
                  "发展计划年终报告", "考核得分", "考核扣分明细", "考核汇总", "日历订阅",
                  "步骤表单", "更正表单", "材料", "预审", "待审批", "(已检索)",
                  "发展公示", "预审请示", "表决计票单", "全程纪实表")
# The filters a detail names as `key=value` (a search's, a work queue's), by their words on
# the access log page; a value that is a step or a stage id is shown by its name.
DETAIL_KEYS = {"branch": "党支部", "stage": "阶段", "q": "姓名或证件号", "overdue": "已超期",
               "mine": "待我办理", "org": "党组织", "year": "年度"}
READERS = (Role.COMMITTEE_ORGANIZER, Role.AUDITOR, Role.ADMIN)
# 18-digit resident ID numbers (last character may be X) and the old 15-digit ones
ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")
DETAIL_MAX = 200


def clean(detail: str | None) -> str | None:
    """A short detail with anything that looks like an ID number blotted out."""
    if not detail:
        return None
    text = ID_NUMBER.sub("[身份证号已隐去]", " ".join(str(detail).replace("\x00", "").split()))
    return text if len(text) <= DETAIL_MAX else text[:DETAIL_MAX - 1] + "…"


def record(actor: User | None, action: str, *, case_id: int | None = None, subjects: int = 1,
           channel: str, remote: str | None = None, detail: str | None = None,
           commit: bool = True) -> bool:
    """Append one access row (one INSERT; committed now unless `commit=False`).

    `actor` None is the command line. Returns whether a row was written: a list or report
    that named nobody (`subjects` 0) leaves none. Any failure propagates, so that the caller's
    request fails instead of handing out data that was not logged."""
    action = Action(action)
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if subjects < 0 or (case_id is not None and not is_id(case_id)):
        raise ValueError("subjects must be ≥ 0 and case_id a database id")
    if subjects == 0 and action in ONLY_WHEN_NAMED:
        return False
    db.session.execute(_insert(), {
        "at": utcnow(), "user_id": actor.id if actor is not None else None,
        "org_id": actor.org_id if actor is not None else None, "action": action.value,
        "case_id": case_id, "subjects": subjects, "channel": channel,
        "remote": (remote or None) and remote[:64], "detail": clean(detail)})
    if commit:
        db.session.commit()
    return True


@functools.cache
def _insert() -> sa.Insert:
    """Built once: every request that shows people runs it, and composing it cost more than
    running it."""
    return sa.insert(PersonalDataAccess.__table__)


def people_in(items: Any, key: str = "case_id") -> int:
    """How many different people a list of dicts names (by their case id)."""
    return len({i[key] for i in items if i.get(key) is not None})


# --- reading the log ----------------------------------------------------------------------------

def _require_reader(actor: User) -> None:
    if actor.role not in READERS:
        raise Forbidden("只有上级党委组织员、检查员和系统管理员可以查看个人信息访问记录")


def _day(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    day = parse_date(value)
    if day is None:
        raise BadRequest(f"{name} 必须是 YYYY-MM-DD 格式的日期")
    return day


def _utc(day: date) -> datetime:
    """Midnight of the organisation's date, as the naive UTC the column holds."""
    return clock.day_start_utc(day)


def _case_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() \
        and len(value) < 12 else value
    if not is_id(number):
        raise BadRequest("case_id 必须是案件编号（正整数）")
    return number  # type: ignore[no-any-return]


def _filters(actor: User, user: str | None, case_id: Any, action: str | None, since: Any,
             until: Any) -> list[Any]:
    where: list[Any] = []
    if actor.role != Role.ADMIN:
        where.append(PersonalDataAccess.org_id.in_(access.subtree_ids(actor.org_id)))
    if user:
        if len(user) > 80 or "\x00" in user:
            raise BadRequest("user 必须是用户名")
        where.append(User.username == user)
    if (case := _case_id(case_id)) is not None:
        where.append(PersonalDataAccess.case_id == case)
    if action:
        if action not in ACTION_LABELS:
            raise BadRequest("action 取值不正确", allowed=sorted(ACTION_LABELS))
        where.append(PersonalDataAccess.action == action)
    first, last = _day(since, "from"), _day(until, "to")
    if first is not None:
        where.append(PersonalDataAccess.at >= _utc(first))
    if last is not None:
        where.append(PersonalDataAccess.at < _utc(last + timedelta(days=1)))
    return where


def _view(row: PersonalDataAccess, username: str | None, display: str | None,
          org: str | None) -> dict[str, Any]:
    local = clock.local(row.at)
    assert local is not None
    return {"id": row.id, "at": row.at.isoformat(timespec="seconds") + "Z",
            "at_local": local.strftime("%Y-%m-%d %H:%M:%S"), "user": username,
            "user_name": display or username, "org": org, "action": row.action,
            "action_label": ACTION_LABELS.get(row.action, row.action),
            "case_id": row.case_id, "subjects": row.subjects, "channel": row.channel,
            "remote": row.remote, "detail": row.detail}


def entries(actor: User, *, user: str | None = None, case_id: Any = None,
            action: str | None = None, since: Any = None, until: Any = None, page: int = 1,
            per_page: int = 50) -> dict[str, Any]:
    """The log, newest first, filtered by account (username), case, action and a range of
    Beijing dates (`since`/`until` inclusive), within the reader's scope (module docstring)."""
    _require_reader(actor)
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= 200:
        raise BadRequest("page 必须 ≥ 1，per_page 必须在 1–200 之间")
    where = _filters(actor, user, case_id, action, since, until)
    base = (db.select(PersonalDataAccess, User.username, User.display_name, Organisation.code)
            .outerjoin(User, User.id == PersonalDataAccess.user_id)
            .outerjoin(Organisation, Organisation.id == PersonalDataAccess.org_id)
            .where(*where))
    total = db.session.execute(db.select(db.func.count()).select_from(base.subquery())).scalar()
    rows = db.session.execute(base.order_by(PersonalDataAccess.at.desc(),
                                            PersonalDataAccess.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [_view(*row) for row in rows], "total": total, "page": page,
            "per_page": per_page}
