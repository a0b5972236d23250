"""Report files people file: Excel (openpyxl) and PDF (ReportLab) of the same tables.

Each report is first built as plain data (a title, a few lines and some tables), then written
by one of two small writers, so the Excel and the PDF of a report can never disagree. Scores
and counts are written as numbers, not text, so a spreadsheet can add them up.

The PDF embeds a CJK TrueType font (Debian's fonts-wqy-microhei by default, config
`REPORT_FONT`): ReportLab's built-in STSong-Light is only referenced, not embedded, and shows
boxes on machines without Chinese fonts.

Every xlsx cell this project writes goes through `row_cells`: a text cell that a spreadsheet
would read as a formula (OWASP "CSV injection": a person named `=HYPERLINK(...)` or
`=cmd|' /C calc'!A0`) is written as text behind an apostrophe; `unescape_cell` is its inverse
for the import reader.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from workflow.services.errors import ServiceError

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_NAME = "ReportCJK"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
# A text cell starting with one of = + - @ TAB CR is evaluated by Excel, LibreOffice or WPS
# (OWASP CSV injection). Apostrophes in front of those are escaped too (one more apostrophe),
# so that unescaping, which removes exactly one, gives back every text exactly.
FORMULA_LIKE = re.compile(r"'*[=+\-@\t\r]")


class ReportUnavailable(ServiceError):
    code, status = "unavailable", 503


@dataclass
class Sheet:
    title: str
    header: list[str]
    rows: list[list[Any]]
    widths: list[int]  # relative column widths, in characters


@dataclass
class Report:
    title: str
    lines: list[str]
    sheets: list[Sheet] = field(default_factory=list)


# --- what each report holds ---------------------------------------------------------------------

def _item_title(key: str) -> str:
    return {"13": "第13项 发展程序", "14": "第14项 积极分子培训"}.get(key, f"第{key}项")


def committee_report(table: dict[str, Any]) -> Report:
    years = table["years"]
    header = ["支部代码", "党支部", "第13项（满分5）", "第14项（满分3）", "合计（满分8）",
              *[f"{y}年合计" for y in years[:-1]], "较上年", "上级党委责任事项"]
    rows = [[r["org"], r["name"], r["13"], r["14"], r["total"],
             *[t["total"] for t in r["trend"][:-1]], r["change"], r["committee"]]
            for r in table["rows"]]
    sheets = [Sheet("考核汇总", header, rows, [10, 22, 12, 12, 12, *[10] * (len(years) - 1), 8, 14])]
    sheets.append(Sheet("上级党委责任", ["党支部", "案件", "姓名", "事项", "步骤记录", "日期", "说明"],
                        [[d["org_name"], d["case_id"], d["person"], d["rule_label"],
                          d["step_record_id"], d["on"], d["message"]] for d in table["committee"]],
                        [16, 6, 8, 18, 8, 11, 40]))
    return Report(f"{table['org_name']} {table['year']}年度党组织目标管理考核（发展党员工作）",
                  [f"计分日期：{table['as_of']}；第13项、第14项均由系统根据纪实记录自动计算。",
                   "上级党委责任事项报上级党委，不扣党支部分。"], sheets)


def branch_report(result: dict[str, Any]) -> Report:
    items = result["items"]
    scores = [[_item_title(k), i["score"], i["max"], len(i["deductions"])]
              for k, i in items.items()]
    scores.append(["合计", result["total"], result["max_total"], None])
    summary = Sheet("得分", ["项目", "得分", "满分", "扣分条数"], scores, [22, 8, 8, 10])
    detail = Sheet("扣分明细", ["项目", "类别", "案件", "姓名", "规则", "步骤记录", "日期", "扣分",
                            "原因", "如何改正"],
                   [[k, d["kind_label"], d["case_id"], d["person"], d["rule_label"],
                     d["step_record_id"], d["on"], d["points"], d["message"], d["fix"]]
                    for k, i in items.items() for d in i["deductions"]],
                   [5, 10, 6, 8, 16, 8, 11, 5, 34, 24])
    sheets = [summary, detail]
    if result["committee"]:
        sheets.append(Sheet("上级党委责任", ["案件", "姓名", "事项", "步骤记录", "日期", "说明"],
                            [[d["case_id"], d["person"], d["rule_label"], d["step_record_id"],
                              d["on"], d["message"]] for d in result["committee"]],
                            [6, 8, 18, 8, 11, 40]))
    return Report(f"{result['org_name']} {result['year']}年度考核扣分明细",
                  [f"计分日期：{result['as_of']}；得分 {result['total']} / {result['max_total']}。"],
                  sheets)


def statistics_report(stats: dict[str, Any]) -> Report:
    ids = [c["id"] for c in stats["columns"]]
    rows = [[r["org"], r["name"], *[r[c] for c in ids]] for r in stats["rows"]]
    rows.append(["", "合计", *[stats["total"][c] for c in ids]])
    header = ["支部代码", "党支部", *[c["label"] for c in stats["columns"]]]
    return Report(f"{stats['org_name']} {stats['year']}年度发展党员工作统计",
                  [f"统计日期：{stats['as_of']}；按步骤发生日期所在年度、当时所在党支部计数。"],
                  [Sheet("发展统计", header, rows, [10, 22, *[14] * len(ids)])])



# Yearly development plans (issue 21): the plan table and the year-end report.

def _plan_targets(table: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["id"], t["label"]) for t in table["targets"]]


def _targets_words(values: dict[str, int], targets: list[tuple[str, str]]) -> str:
    return "；".join(f"{label} {values[k]}" for k, label in targets if k in values)


def plans_report(table: dict[str, Any]) -> Report:
    """The plan table: plan against actual per branch, each plan's versions and measures."""
    targets = _plan_targets(table)
    header = ["支部代码", "党支部", "计划发展人数", "计划版本",
              *[f"{label}（计划）" for _, label in targets], "已通过支部大会表决", "已批准接收",
              "入党积极分子", "发展对象", "尚差", "超计划表决", "年底前可参加表决", "提示"]
    rows = []
    for r in table["rows"]:
        plan, o = r["plan"], r["outlook"]
        notes = ["未下达计划即表决（第13项扣2分）" if r["no_plan"] else
                 "未下达计划" if plan is None else "",
                 "年内难以完成" if o and o["cannot_fill"] else ""]
        rows.append([r["org"], r["org_name"], r["quota"], plan["version"] if plan else None,
                     *[(plan["targets"].get(k) if plan else None) for k, _ in targets],
                     r["votes_passed"], r["admitted"], r["pipeline"]["activists"],
                     r["pipeline"]["candidates"], r["gap"], len(r["over_plan"]),
                     o["reachable"] if o else None, "；".join(n for n in notes if n)])
    t = table["total"]
    rows.append(["", "合计", t["quota"], None, *[None] * len(targets), t["votes_passed"],
                 t["admitted"], t["activists"], t["candidates"], None, t["over_plan"], None,
                 f"{t['branches_without_plan']} 个党支部未下达计划"
                 if t["branches_without_plan"] else ""])
    plans_ = [r["plan"] for r in table["rows"] if r["plan"]]
    versions = Sheet("版本记录", ["支部代码", "党支部", "版本", "计划发展人数", "结构指标",
                                "生效日期", "调整原因", "记录人"],
                     [[p["org"], p["org_name"], v["version"], v["quota"],
                       _targets_words(v["targets"], targets), v["effective_on"],
                       v["reason"] or "首次下达", v["recorded_by"]]
                      for p in plans_ for v in p["versions"]], [10, 20, 6, 10, 24, 11, 30, 10])
    measures = Sheet("落实措施", ["支部代码", "党支部", "措施", "责任人", "完成时限", "记录人"],
                     [[p["org"], p["org_name"], m["text"], m["owner"], m["due_on"],
                       m["recorded_by"]] for p in plans_ for m in p["measures"]],
                     [10, 20, 40, 12, 11, 10])
    return Report(f"{table['org_name']} {table['year']}年度发展党员计划",
                  [(f"统计日期：{table['as_of']}；已通过表决计入计划数，已批准接收为上级党委"
                    "批准的预备党员。")],
                  [Sheet("发展计划", header, rows,
                         [10, 20, 10, 8, *[10] * len(targets), 12, 10, 10, 10, 8, 10, 12, 24]),
                   versions, measures])


def year_end_report(data: dict[str, Any]) -> Report:
    """The year-end report: plan against actual per branch and for the committee, and the
    structure of the year's new probationary members (sex, age band, education, occupation,
    ethnicity)."""
    targets = _plan_targets(data)
    header = ["支部代码", "党支部", "计划发展人数", "已通过支部大会表决", "已批准接收", "尚差",
              "超计划表决", *[f"{label}（实际/计划）" for _, label in targets]]
    rows = []
    for r in data["rows"]:
        planned = r["plan"]["targets"] if r["plan"] else {}
        rows.append([r["org"], r["org_name"] + ("" if r["plan"] else "（未下达计划）"),
                     r["quota"], r["votes_passed"], r["admitted"], r["gap"], len(r["over_plan"]),
                     *[f"{r['targets_actual'][k]} / {planned.get(k, '—')}"
                       for k, _ in targets]])
    t = data["total"]
    rows.append(["", "合计", t["quota"], t["votes_passed"], t["admitted"],
                 sum(r["gap"] or 0 for r in data["rows"]), t["over_plan"],
                 *[f"{sum(r['targets_actual'][k] for r in data['rows'])} / "
                   f"{sum((r['plan'] or {}).get('targets', {}).get(k, 0) for r in data['rows'])}"
                   for k, _ in targets]])
    structure, labels = data["structure"], data["structure_labels"]
    from workflow.services.plans import STRUCTURE_TITLES
    counts = [[STRUCTURE_TITLES[dim][0], zh, structure[dim].get(key, 0)]
              for dim, names in labels.items() for key, (zh, _en) in names.items()
              if key != "unknown" or structure[dim].get(key)]
    return Report(f"{data['org_name']} {data['year']}年度发展党员计划执行情况",
                  [f"统计日期：{data['as_of']}；本年度批准接收预备党员 {structure['total']} 名。"],
                  [Sheet("计划与实际", header, rows, [10, 20, 10, 12, 10, 8, 10,
                                                    *[12] * len(targets)]),
                   Sheet("预备党员构成", ["类别", "项目", "人数"], counts, [16, 30, 8])])

# --- writers --------------------------------------------------------------------------------------

def cell_value(value: Any) -> Any:
    """A value as it may go into a spreadsheet cell: text that would start a formula gets a
    leading apostrophe; numbers (negative ones too), dates and None stay what they are."""
    if isinstance(value, str) and FORMULA_LIKE.match(value):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """What `cell_value` was given: removes the one apostrophe it added, nothing else."""
    if isinstance(value, str) and value.startswith("'") and FORMULA_LIKE.match(value, 1):
        return value[1:]
    return value


def row_cells(values: Iterable[Any]) -> list[Any]:
    """One worksheet row for `ws.append`: every xlsx writer appends its rows through this."""
    return [cell_value(v) for v in values]


def to_xlsx(report: Report) -> bytes:
    """One worksheet per table: the title, the lines, a blank row, then the header and rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    for sheet in report.sheets:
        ws = book.create_sheet(sheet.title)
        ws.append(row_cells([report.title]))  # a printed record's title starts with the name
        ws["A1"].font = Font(bold=True, size=14)
        for line in report.lines:
            ws.append(row_cells([line]))
        ws.append([])
        ws.append(row_cells(sheet.header))
        head = ws.max_row
        for cell in ws[head]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            ws.append(row_cells(row))
        for i, width in enumerate(sheet.widths, start=1):
            wide = width * 2 if width > 20 else width + 6  # CJK glyphs take two columns
            ws.column_dimensions[get_column_letter(i)].width = wide
        for row in ws.iter_rows(min_row=head + 1):
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = ws.cell(row=head + 1, column=1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _font() -> str:
    """Register the embedded CJK font once per process; refuse clearly when it is missing."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    path = Path(current_app.config.get("REPORT_FONT") or DEFAULT_FONT)
    if not path.is_file():
        raise ReportUnavailable(f"服务器缺少中文字体 {path}，无法生成 PDF"
                                "（请安装 fonts-wqy-microhei 或设置 REPORT_FONT）")
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
    return FONT_NAME


def to_pdf(report: Report) -> bytes:
    """A4 landscape: the title, the lines, then each table with its header repeated per page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font()
    style = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
    head = ParagraphStyle("head", parent=style, fontSize=12, leading=16, spaceBefore=8)
    title = ParagraphStyle("title", parent=style, fontSize=16, leading=22, spaceAfter=6)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=12 * mm,
                            rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            title=report.title, author="发展党员全程纪实")
    flow: list[Any] = [Paragraph(_text(report.title), title)]
    flow += [Paragraph(_text(line), style) for line in report.lines]
    for sheet in report.sheets:
        flow += [Spacer(1, 4 * mm), Paragraph(_text(sheet.title), head)]
        data = [[Paragraph(_text(c), style) for c in row] for row in [sheet.header, *sheet.rows]]
        scale = doc.width / sum(sheet.widths)
        table = Table(data or [[""]], colWidths=[w * scale for w in sheet.widths], repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f1f5f9")),
            ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        flow.append(table)
    doc.build(flow)
    return out.getvalue()


def _text(value: Any) -> str:
    """A cell as ReportLab paragraph markup: empty for None, and &, <, > escaped."""
    if value is None:
        return ""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


WRITERS = {"xlsx": (to_xlsx, XLSX), "pdf": (to_pdf, PDF)}


def render(report: Report, fmt: str) -> tuple[bytes, str]:
    """The file's bytes and its media type; `fmt` is "xlsx" or "pdf"."""
    write, mimetype = WRITERS[fmt]
    return write(report), mimetype
