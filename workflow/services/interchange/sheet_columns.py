"""The import workbook's layout, defined once: its sheets, person columns and step columns.

Built from the step catalogue and read by both directions (`excel_export` writes these
columns, `import_sheet` reads them back), so exporting a branch's cases and importing the file
elsewhere replays every case to the same state. Values are written the way a secretary would
type them (Chinese choice labels, 是/否, roster members by name).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow import votes
from workflow.states import STAGES
from workflow.steps import OCCUPATIONS, STEPS, FieldType

MAIN_SHEET, MORE_SHEET, HELP_SHEET = "案件", "续表", "填写说明"


PERSON_COLUMNS = (("姓名", "name"), ("性别", "gender"), ("出生日期", "birth_date"),
                  ("身份证号码", "id_number"), ("民族", "ethnicity"), ("学历", "education"),
                  ("职业", "occupation"), ("工作单位", "unit"), ("联系电话", "phone"))


APPLIED, PAPERS, REMARK = "申请日期", "材料存放位置", "说明（导入时忽略）"


KEY_HEADERS = ("姓名", "出生日期", APPLIED)


# Steps a branch cannot bring in from its own archive: a committee course id, a move between
# branches, and corrections (the export writes the corrected values instead).
NOT_IMPORTED = ("application_submitted", "training_attended", "case_transferred",
                "step_corrected")


SLOTS = {"activist_assessed": 3, "probation_assessed": 4}  # routine repeats on the main row


STEP_TITLES = {"activist_filed": "积极分子备案", "candidate_filed": "发展对象备案"}


VOTE_PARTS = ("eligible", "present", "written", "yes", "no", "abstain", "method")


STAGE_LABELS = {m.STAGE: m.ZH for m in STAGES}


FIELD_LABELS = {
    "interviewer": "谈话人", "method": "推荐方式", "committee_meeting_on": "支委会日期",
    "cultivators": "培养联系人", "period": "考察期", "conclusion": "结论",
    "opinions_heard": "已听取意见", "introducers": "入党介绍人", "start_on": "开始日期",
    "end_on": "结束日期", "hours": "学时", "result": "审查结果", "decision": "决定",
    "comments": "意见", "objections": "异议情况", "form_number": "志愿书编号",
    "extension_reason": "延期原因", "group": "党小组", "outcome": "决议",
    "extend_months": "延长月数", "archive_ref": "档案号", "reason": "原因",
    "training_id": "培训班编号", "attended": "是否参加", "to_branch": "转入党支部",
    "corrects": "更正的记录", "fields": "更正内容",
}


CHOICE_LABELS = {
    "pass": "通过", "fail": "不通过", "approved": "同意", "returned": "退回", "rejected": "不同意",
    "none": "无异议", "resolved": "有异议已查清", "upheld": "有异议经查属实",
    "convert": "按期转正", "extend": "延长预备期", "disqualify": "取消预备党员资格",
    "member_recommendation": "党员推荐", "mass_org_recommendation": "群团组织推优",
    "withdrawn": "本人撤回", "not_admitted": "未被接收", "disqualified": "取消资格",
    "transferred_out": "转出", "deceased": "去世", "male": "男", "female": "女",
    "secret_ballot": "无记名投票", "show_of_hands": "举手表决",
    **{value: zh for value, (zh, _) in OCCUPATIONS.items()},
}


@dataclass(frozen=True)
class Column:
    """One step column of the import sheet: the step's date (`field` None) or one of its data
    fields; `slot` is which occurrence of a repeatable step the column holds."""

    header: str
    step: str
    slot: int
    field: str | None = None
    part: str | None = None  # a vote's count or method


def _step_columns() -> tuple[Column, ...]:
    cols: list[Column] = []
    for spec in STEPS.values():
        if spec.id in NOT_IMPORTED:
            continue
        slots = SLOTS.get(spec.id, 1)
        for slot in range(slots):
            title = STEP_TITLES.get(spec.id, spec.zh) + (str(slot + 1) if slots > 1 else "")
            cols.append(Column(f"{title}日期", spec.id, slot))
            for f in spec.fields:
                if f.type is FieldType.VOTE:
                    cols += [Column(f"{title}·{votes.FIELD_LABELS[p]}", spec.id, slot, f.name, p)
                             for p in VOTE_PARTS]
                else:
                    cols.append(Column(f"{title}·{FIELD_LABELS[f.name]}", spec.id, slot, f.name))
    return tuple(cols)


STEP_COLUMNS = _step_columns()


HEADERS = (*[h for h, _ in PERSON_COLUMNS], APPLIED, PAPERS, *[c.header for c in STEP_COLUMNS])


def choice_label(value: Any) -> str:
    return CHOICE_LABELS.get(value, str(value)) if isinstance(value, str) else str(value)


HELP = (
    "每位发展对象填一行（「案件」表）；同一步骤超出本行列数的记录（如第4次培养考察、第二次表决、"
    "预审退回后再次预审）写在「续表」中，用姓名、出生日期、申请日期对应到「案件」表的那一行。",
    "日期写作 YYYY-MM-DD（如 2024-05-20），也可以是 Excel 日期；没有发生的步骤留空。",
    "培养联系人、入党介绍人填本支部花名册中的姓名，两人之间用顿号「、」分隔。",
    "选项列填中文选项：" + "、".join(sorted(set(CHOICE_LABELS.values()))) + "；是否类填 是/否。",
    "身份证号码按 GB 11643 校验；已脱敏的号码（如 1101**********1234）原样保存，仅供核对。",
    "材料存放位置：填写后，导入的每个步骤所列手续都登记为纸质材料在档（存放于该位置）。",
    "导入时逐行按各步骤日期当时有效的规则重放：日期不合理、花名册查无此人、表决票数不成立、"
    "身份证校验位错误等会使整个文件被拒绝，并列出行号、列名和原因；程序违规如实记录，"
    "确认原因为「历史档案导入」。已导入的人（同一支部、姓名、出生日期、申请日期）不会重复导入。",
)
