"""Cases out to Excel: the import format (one row per person), case lists and 全程纪实表.

The columns are `sheet_columns`; the same file imports back (`excel_import`). Cells are
written through `reports.files.row_cells` (text that would be a formula gets an apostrophe,
which the import reader removes again).
"""
from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from workflow import votes
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.replay import state_label
from workflow.services import cases
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.interchange.sheet_columns import (
    APPLIED,
    FIELD_LABELS,
    HEADERS,
    HELP,
    HELP_SHEET,
    KEY_HEADERS,
    MAIN_SHEET,
    MORE_SHEET,
    NOT_IMPORTED,
    PAPERS,
    PERSON_COLUMNS,
    REMARK,
    SLOTS,
    STAGE_LABELS,
    STEP_COLUMNS,
    VOTE_PARTS,
    Column,
    choice_label,
)
from workflow.services.reports import replays_of
from workflow.services.reports.files import Report, Sheet, row_cells, to_xlsx
from workflow.steps import DOCUMENT_LABELS, STEPS, FieldType, parse_date


def _cell(col: Column, data: Mapping[str, Any], names: Mapping[int, str]) -> Any:
    """A step value as the secretary would type it."""
    if col.field is None:
        return None
    value = data.get(col.field)
    if col.part is not None:
        value = value.get(col.part) if isinstance(value, dict) else None
        return choice_label(value) if col.part == "method" and value else value
    kind = STEPS[col.step].field(col.field).type  # type: ignore[union-attr]
    if value is None:
        return None
    if kind is FieldType.DATE:
        return parse_date(value)
    if kind is FieldType.BOOL:
        return "是" if value else "否"
    if kind is FieldType.ENUM:
        return choice_label(value)
    if kind is FieldType.ROSTER_IDS:
        return "、".join(names.get(i, f"#{i}") for i in value)
    return value


def _fill(row: dict[str, Any], step: str, slot: int, on: date, data: Mapping[str, Any],
          names: Mapping[int, str]) -> None:
    for col in STEP_COLUMNS:
        if col.step == step and col.slot == slot:
            row[col.header] = on if col.field is None else _cell(col, data, names)


def person_rows(person: Mapping[str, Any], applied: date, entries: Iterable[Any],
                names: Mapping[int, str], papers: str = "",
                remark: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The main row and the continuation rows for one person; `entries` are effective step
    records in replay order (step, occurred_on, data)."""
    main: dict[str, Any] = {h: person.get(k) for h, k in PERSON_COLUMNS}
    main["性别"] = choice_label(person.get("gender")) if person.get("gender") else None
    main["出生日期"] = parse_date(person.get("birth_date"))
    main["身份证号码"] = person.get("id_number") or person.get("id_number_masked")
    main.update({APPLIED: applied, PAPERS: papers or None, REMARK: remark or None})
    key = {h: main[h] for h in KEY_HEADERS}
    seen: Counter[str] = Counter()
    more: list[dict[str, Any]] = []
    for rec in entries:
        if rec.step in NOT_IMPORTED:
            continue
        n, slots = seen[rec.step], SLOTS.get(rec.step, 1)
        seen[rec.step] += 1
        if n < slots:
            _fill(main, rec.step, n, rec.occurred_on, rec.data, names)
            continue
        index = n // slots - 1
        while len(more) <= index:
            more.append(dict(key))
        _fill(more[index], rec.step, n % slots, rec.occurred_on, rec.data, names)
    return main, more


def _skipped(entries: Iterable[Any]) -> str:
    counts = Counter(STEPS[r.step].zh for r in entries
                     if r.step in NOT_IMPORTED and r.step not in ("application_submitted",
                                                                  "step_corrected"))
    return "；".join(f"{label} {n} 条未包含在本表中" for label, n in counts.items())


def _papers(case_id: int) -> str:
    refs = Counter(d.reference for d in repo.document_rows(case_id) if d.on_file and d.reference)
    return refs.most_common(1)[0][0] if refs else ""


def _sheet(book: Any, title: str, headers: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = book.create_sheet(title)
    ws.append(row_cells(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row_cells(row.get(h) for h in headers))
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, len(header) * 2 + 2)
        for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "B2"


def import_workbook(people: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> bytes:
    """The import format: 案件 (one row per person), 续表 (further occurrences), 填写说明."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    headers = (*HEADERS, REMARK)
    _sheet(book, MAIN_SHEET, headers, [main for main, _ in people])
    _sheet(book, MORE_SHEET, headers, [row for _, more in people for row in more])
    ws = book.create_sheet(HELP_SHEET)
    ws.column_dimensions["A"].width = 120
    for line in HELP:
        ws.append(row_cells([line]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template() -> bytes:
    return import_workbook([])


def scoped_cases(actor: User, branch: str | None = None, stage: str | None = None,
                 q: str | None = None) -> list[Case]:
    """The caller's cases with the list API's filters, unpaginated (an export is the lot)."""
    scope = access.subtree_ids(actor.org_id)
    if branch:
        scope &= access.subtree_ids(access.visible_org(actor, branch).id)
    query = db.select(Case).where(Case.branch_id.in_(scope))
    if stage:
        query = query.where(Case.stage == stage)
    if q:
        query = query.where(Case.person_name.contains(q))
    return list(db.session.execute(query.order_by(Case.id)).scalars())


def export_import_format(actor: User, branch: str | None = None, stage: str | None = None,
                         q: str | None = None) -> bytes:
    people = []
    for case in scoped_cases(actor, branch, stage, q):
        loaded = cases.load(actor, case.id)
        names = {m.id: m.name for m in repo.roster(case.branch_id).values()}
        effective = loaded.replay.effective
        people.append(person_rows(case.person, case.application_date, effective, names,
                                  _papers(case.id), _skipped(effective)))
    return import_workbook(people)


def export_list(actor: User, branch: str | None = None, stage: str | None = None,
                q: str | None = None) -> bytes:
    """A case list as people read it: who, where, which stage, what is due, how many misses."""
    rows = scoped_cases(actor, branch, stage, q)
    replays = replays_of(rows, today())
    table = []
    for case in rows:
        r = replays[case.id]
        open_ = [d for d in r.deadlines if d.status.value != "met"]
        nxt = min(open_, key=lambda d: d.due_on) if open_ else None
        table.append([case.id, case.branch.name, case.person_name,
                      choice_label(case.person.get("gender", "")), case.person.get("birth_date"),
                      case.application_date.isoformat(), STAGE_LABELS.get(r.stage, r.stage),
                      state_label(r.state), len(r.violations),
                      nxt.due_on.isoformat() if nxt else "", _deadline_text(nxt)])
    sheet = Sheet("案件清单", ["编号", "党支部", "姓名", "性别", "出生日期", "申请日期", "阶段",
                           "当前状态", "违规数", "最近期限", "期限事项"], table,
                  [6, 16, 8, 4, 11, 11, 10, 22, 6, 11, 30])
    return to_xlsx(Report("发展党员案件清单", [f"导出日期：{today().isoformat()}；共 {len(table)} 件。"],
                          [sheet]))


STATUS_LABELS = {"upcoming": "未到期", "due": "即将到期", "overdue": "已超期", "met": "已完成"}


def _deadline_text(d: Any) -> str:
    if d is None:
        return ""
    from workflow.rules import REGISTRY
    return f"{STATUS_LABELS[d.status.value]}：{REGISTRY[d.rule].zh}"


def documents_text(step: Mapping[str, Any]) -> str:
    have = [f"{d['label']}（{d['reference'] if d['on_file'] else d['filename']}）"
            for d in step["documents"]]
    missing = [f"缺：{DOCUMENT_LABELS.get(m, m)}" for m in step["missing_documents"]]
    return "；".join(have + missing)


def _value_text(kind: FieldType, value: Any, names: Mapping[int, str]) -> str:
    if kind is FieldType.VOTE and isinstance(value, dict):
        return vote_text(value)
    if kind is FieldType.ROSTER_IDS and isinstance(value, list):
        return "、".join(names.get(i, f"#{i}") for i in value)
    if kind is FieldType.BOOL:
        return "是" if value else "否"
    if kind is FieldType.PERSON and isinstance(value, dict):
        return "，".join(str(v) for v in (value.get("name"), choice_label(value.get("gender")),
                                         value.get("birth_date"), value.get("unit")) if v)
    if kind is FieldType.FIELDS and isinstance(value, dict):
        return "，".join(f"{FIELD_LABELS.get(k, '日期' if k == 'occurred_on' else k)}改为"
                        f"{choice_label(v)}" for k, v in value.items())
    return choice_label(value)


def vote_text(vote: Mapping[str, Any]) -> str:
    """The counts and the computed result, with the reasons a vote failed."""
    counts = "、".join(f"{votes.FIELD_LABELS[p]} {vote.get(p, '—')}" for p in VOTE_PARTS[:-1])
    try:
        result = votes.tally(votes.Vote.from_data(vote))
    except votes.VoteInvalid as exc:
        return f"{counts}；票数不成立：{exc}"
    verdict = "通过" if result.passed else "未通过（" + "；".join(result.reasons) + "）"
    return f"{counts}；{choice_label(vote.get('method'))}；结果：{verdict}"


def summarize(step: str, data: Mapping[str, Any], names: Mapping[int, str]) -> str:
    """A step's data in one line of Chinese, for the record sheets and printed forms."""
    parts = []
    for f in STEPS[step].fields:
        if data.get(f.name) is None or f.name == "branch":
            continue
        text = _value_text(f.type, data[f.name], names)
        parts.append(text if f.type in (FieldType.VOTE, FieldType.PERSON)
                     else f"{FIELD_LABELS.get(f.name, f.name)}：{text}")
    return "；".join(parts)


def _remarks(s: Mapping[str, Any], names: Mapping[int, str]) -> str:
    notes = []
    if s["corrected"]:  # the record as first written: its date and its data
        original = s["original"]
        notes.append(f"已更正，原记录（{original['occurred_on']}）："
                     + summarize(s["step"], original["data"], names))
    if s["acknowledged_reason"]:
        notes.append(f"确认原因：{s['acknowledged_reason']}")
    if s["note"]:
        notes.append(f"备注：{s['note']}")
    if s.get("decided_by") or s.get("session_ref"):
        who = s["decided_by"]["name"] if s.get("decided_by") else "未注明"
        notes.append(f"决定人：{who}（会话 {s.get('session_ref') or '—'}）")
    return "；".join(notes)


def full_record(actor: User, case_id: int) -> Report:
    """全程纪实表: every step with its date, what was decided, its papers, its misses and
    corrections, in the order things happened; then the deadlines still open."""
    view = cases.get_case(actor, case_id, today())
    case = access.visible_case(actor, case_id)
    names = {m.id: m.name for m in repo.roster(case.branch_id).values()}
    steps = sorted(view["steps"], key=lambda s: (s["occurred_on"], s["id"]))
    rows = [[i, s["occurred_on"], s["label"], summarize(s["step"], s["data"], names),
             documents_text(s), "；".join(f"{v['message']}：{v['detail']}" for v in s["violations"]),
             _remarks(s, names), s["recorded_by"] or ""] for i, s in enumerate(steps, start=1)]
    record = Sheet("全程纪实", ["序号", "日期", "步骤", "内容", "手续材料", "程序问题", "更正与说明",
                            "记录人"], rows, [4, 10, 14, 30, 20, 20, 18, 8])
    due = Sheet("期限", ["事项", "到期日", "状态", "责任方"],
                [[d["message"], d["due_on"], STATUS_LABELS[d["status"]],
                  "上级党委" if d["responsible"] == "committee" else "党支部"]
                 for d in view["deadlines"]], [30, 12, 10, 10])
    missed = Sheet("超期未办", ["事项", "到期日", "说明"],
                   [[v["message"], v["due_on"], v["detail"]] for v in view["violations"]
                    if v["step_record_id"] is None], [30, 12, 40])
    p = view["person"]
    lines = [f"党支部：{view['branch_name']}　当前状态：{view['state_label']}",
             (f"性别：{choice_label(p.get('gender', ''))}　出生日期：{p.get('birth_date', '')}　"
              f"身份证号码：{p.get('id_number_masked') or '—'}　工作单位：{p.get('unit') or '—'}"),
             f"申请日期：{view['application_date']}　制表日期：{today().isoformat()}"]
    return Report(f"{p['name']} 发展党员全程纪实表", lines,
                  [record, due] + ([missed] if missed.rows else []))


def full_record_xlsx(actor: User, case_id: int) -> bytes:
    return to_xlsx(full_record(actor, case_id))
