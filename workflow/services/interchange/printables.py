"""Printed forms from recorded data: the public notice, the pre-review request, the meeting's
tally sheet and the full-process record (全程纪实表), as Word (.docx) and PDF.

Each form is built once as a `report_files.Report` (title, paragraphs, tables) from the case
as the services show it, then written by a .docx or a PDF writer, so the two files of one form
cannot disagree and nothing is typed twice: what the committee files is what was recorded.
The PDF embeds the same CJK font as the report files (their `_font` helper).
"""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from workflow.persistence import repository as repo
from workflow.persistence.models import User
from workflow.services import cases
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import BadRequest, Invalid
from workflow.services.interchange.excel_export import full_record, summarize, vote_text
from workflow.services.interchange.sheet_columns import choice_label
from workflow.services.reports import files as report_files
from workflow.services.reports.files import Report, Sheet
from workflow.steps import STEPS

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BLANK_DATE = "____年__月__日"


class _Case:
    """The case view plus what the forms keep asking for: the last effective occurrence of a
    step and roster names."""

    def __init__(self, actor: User, case_id: int) -> None:
        self.view = cases.get_case(actor, case_id, today())
        case = access.visible_case(actor, case_id)
        self.branch = case.branch
        self.names = {m.id: m.name for m in repo.roster(case.branch_id).values()}
        self.person = self.view["person"]
        self.name = self.person["name"]

    def last(self, step: str) -> dict[str, Any] | None:
        found = [s for s in self.view["steps"] if s["step"] == step]
        return max(found, key=lambda s: (s["occurred_on"], s["id"])) if found else None

    def on(self, step: str) -> str:
        s = self.last(step)
        return _cn_date(s["occurred_on"]) if s else BLANK_DATE

    def require(self, step: str, why: str) -> dict[str, Any]:
        s = self.last(step)
        if s is None:
            raise Invalid(why, {"step": f"尚未记录「{step}」"})
        return s

    def introducers(self) -> str:
        s = self.last("introducers_assigned")
        return "、".join(self.names.get(i, f"#{i}") for i in s["data"]["introducers"]) if s \
            else "（尚未确定）"


def _cn_date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{y}年{int(m)}月{int(d)}日"


def _profile(c: _Case) -> str:
    p = c.person
    parts = [c.name, choice_label(p.get("gender", "")), p.get("ethnicity"),
             f"{_cn_date(p['birth_date'])}出生" if p.get("birth_date") else None,
             p.get("education"), p.get("unit")]
    return "，".join(x for x in parts if x)


def notice(actor: User, case_id: int) -> Report:
    """关于拟发展…为中共预备党员的公示: the text the branch posts for the notice period."""
    c = _Case(actor, case_id)
    c.require("candidate_designated", "尚未确定为发展对象，还不能生成发展公示")
    held = c.last("public_notice_held")
    period = (f"{_cn_date(held['data']['start_on'])}至{_cn_date(held['data']['end_on'])}"
              if held else f"{BLANK_DATE}至{BLANK_DATE}")
    lines = [
        f"根据《中国共产党发展党员工作细则》有关规定，经{c.branch.name}支部委员会研究，"
        f"并经上级党委预审同意，现将拟发展为中共预备党员的{c.name}同志的有关情况公示如下：",
        f"{_profile(c)}。{c.on('application_submitted')}递交入党申请书，"
        f"{c.on('activist_designated')}被确定为入党积极分子，"
        f"{c.on('candidate_designated')}被确定为发展对象。入党介绍人：{c.introducers()}。",
        f"公示时间：{period}。",
        f"公示期间，党员和群众可通过来电、来信、来访等方式，向{c.branch.name}或上级党委反映"
        f"{c.name}同志在政治思想、工作学习、道德品质等方面的情况和问题。反映问题应实事求是，"
        "以真实姓名反映的，我们将严格保密。",
        f"{c.branch.name}　{_cn_date(held['data']['start_on']) if held else BLANK_DATE}",
    ]
    return Report(f"关于拟发展{c.name}同志为中共预备党员的公示", lines)


PRE_REVIEW_STEPS = ("application_submitted", "applicant_interviewed", "activist_designated",
                    "activist_filed", "cultivators_assigned", "activist_assessed",
                    "candidate_designated", "candidate_filed", "introducers_assigned",
                    "political_review_concluded", "candidate_trained",
                    "branch_committee_reviewed")


def pre_review(actor: User, case_id: int) -> Report:
    """关于…发展为中共预备党员的预审请示: the branch's request with every prior step listed."""
    c = _Case(actor, case_id)
    c.require("candidate_designated", "尚未确定为发展对象，还不能生成预审请示")
    rows = []
    for step in PRE_REVIEW_STEPS:
        done = sorted((s for s in c.view["steps"] if s["step"] == step),
                      key=lambda s: s["occurred_on"])
        rows += [[s["label"], s["occurred_on"], summarize(s["step"], s["data"], c.names)]
                 for s in done] or [[STEPS[step].zh, "未记录", ""]]
    parent = c.branch.parent.name if c.branch.parent else "上级党委"
    lines = [f"{parent}：",
             f"我支部发展对象{c.name}同志（{_profile(c)}），经支部委员会审查，认为已基本具备党员条件。"
             "现将其培养考察和发展程序完成情况报告如下，请予预审。",
             "妥否，请批示。",
             f"{c.branch.name}　{c.on('branch_committee_reviewed')}"]
    table = Sheet("发展程序完成情况", ["程序", "日期", "情况"], rows, [14, 10, 30])
    return Report(f"关于{c.name}同志发展为中共预备党员的预审请示", lines, [table])


VOTE_STEPS = {"admission": ("admission_voted", "接收{name}同志为中共预备党员"),
              "conversion": ("conversion_voted", "{name}同志预备党员转正")}


def tally(actor: User, case_id: int, kind: str = "admission") -> Report:
    """支部大会表决计票单: the counts as recorded and the result the system computed."""
    if kind not in VOTE_STEPS:
        raise BadRequest("表决类型只能是 admission 或 conversion")
    step, topic = VOTE_STEPS[kind]
    c = _Case(actor, case_id)
    s = c.require(step, "尚未记录支部大会表决，没有计票结果可以打印")
    vote = s["data"]["vote"]
    rows = [[label, vote.get(part)] for part, label in (
        ("eligible", "应到会有表决权的正式党员"), ("present", "实到会有表决权的正式党员"),
        ("written", "因故缺席但提交书面意见"), ("yes", "赞成"), ("no", "反对"),
        ("abstain", "弃权"))]
    rows.append(["表决方式", choice_label(vote.get("method"))])
    if kind == "conversion" and s["data"].get("outcome"):
        rows.append(["决议", choice_label(s["data"]["outcome"])])
    lines = [f"党支部：{c.branch.name}　会议日期：{_cn_date(s['occurred_on'])}",
             f"表决事项：{topic.format(name=c.name)}",
             f"计票结果：{vote_text(vote)}",
             "计票人：__________　监票人：__________　会议主持人：__________"]
    return Report(f"{c.branch.name}支部大会表决计票单", lines,
                  [Sheet("计票", ["项目", "人数"], rows, [30, 12])])


FORMS: dict[str, Callable[..., Report]] = {"notice": notice, "prereview": pre_review,
                                           "tally": tally, "record": full_record}
FORM_TITLES = {"notice": "发展公示", "prereview": "预审请示", "tally": "表决计票单",
               "record": "全程纪实表"}


# --- writers -------------------------------------------------------------------------------------

def to_docx(report: Report) -> bytes:
    """A Word document: centred title, paragraphs, each table with a bold header row."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = "SimSun", Pt(11)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")  # CJK text needs its own font slot
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(report.title)
    run.bold, run.font.size = True, Pt(16)
    for line in report.lines:
        doc.add_paragraph(line)
    for sheet in report.sheets:
        doc.add_paragraph().add_run(sheet.title).bold = True
        table = doc.add_table(rows=1, cols=len(sheet.header))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, sheet.header):
            cell.paragraphs[0].add_run(str(text)).bold = True
        for row in sheet.rows:
            for cell, value in zip(table.add_row().cells, row):
                cell.text = "" if value is None else str(value)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def to_pdf(report: Report) -> bytes:
    """A4, portrait unless a table is too wide for it; the CJK font is embedded."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    text = report_files._text
    font = report_files._font()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK",
                          firstLineIndent=22, spaceAfter=4)
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=12, firstLineIndent=0)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=24, alignment=1,
                           firstLineIndent=0, spaceAfter=10)
    wide = any(len(s.header) > 5 for s in report.sheets)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4) if wide else A4, leftMargin=18 * mm,
                            rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
                            title=report.title, author="发展党员全程纪实")
    flow: list[Any] = [Paragraph(text(report.title), title)]
    flow += [Paragraph(text(line), body) for line in report.lines]
    for sheet in report.sheets:
        flow += [Spacer(1, 4 * mm), Paragraph(f"<b>{text(sheet.title)}</b>", cell)]
        data = [[Paragraph(text(v), cell) for v in row] for row in [sheet.header, *sheet.rows]]
        scale = doc.width / sum(sheet.widths)
        table = Table(data, colWidths=[w * scale for w in sheet.widths], repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f1f5f9")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        flow.append(table)
    doc.build(flow)
    return out.getvalue()


WRITERS = {"docx": (to_docx, DOCX), "pdf": (to_pdf, report_files.PDF),
           "xlsx": (report_files.to_xlsx, report_files.XLSX)}


def render(actor: User, case_id: int, form: str, fmt: str, **options: Any) -> tuple[bytes, str]:
    """The form's file and media type; the full record is also offered as a workbook."""
    if form not in FORMS or fmt not in WRITERS or fmt == "xlsx" and form != "record":
        raise BadRequest("不支持的表单或文件格式")
    write, mimetype = WRITERS[fmt]
    return write(FORMS[form](actor, case_id, **options)), mimetype
