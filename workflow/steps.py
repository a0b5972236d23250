"""The step catalogue: every recordable step, who records it, its data and its paperwork.

The catalogue is data so that forms, the API's validation, the OpenAPI description and the
rubric's paperwork check all read the same definition instead of each keeping its own list.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from workflow import votes
from workflow.messages import Message

# Bounds of what is stored, whoever sends it (API, pages, the Excel import): a text is trimmed
# before it is measured, and must show something. docs/security.md lists them.
NAME_MAX = 50  # a person's or a roster member's name
TEXT_MAX = 200  # a one-line text: unit, interviewer, reference, title, archive number, ...
LONG_TEXT_MAX = 2000  # notes, reasons, conclusions, comments: may hold line breaks
FILENAME_MAX = 255
YEAR_MIN, YEAR_MAX = 1900, 2100  # every date the system takes
HOURS_MAX = 1000  # training hours
MASKED_ID_PATTERN = r"[0-9]{4}\*{10}[0-9]{3}[0-9Xx]"  # what is kept of an ID number


class Recorder(StrEnum):
    BRANCH = "branch"
    COMMITTEE = "committee"
    EITHER = "either"


class FieldType(StrEnum):
    STR = "str"
    DATE = "date"
    BOOL = "bool"
    INT = "int"
    NUMBER = "number"
    ENUM = "enum"
    ROSTER_IDS = "roster_ids"
    VOTE = "vote"
    PERSON = "person"
    FIELDS = "fields"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = True
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_len: int = TEXT_MAX  # texts: longer than TEXT_MAX means several lines are allowed


@dataclass(frozen=True)
class StepSpec:
    id: str
    zh: str
    en: str
    stage: str
    recorder: Recorder
    fields: tuple[Field, ...] = ()
    documents: tuple[str, ...] = ()
    repeatable: bool = False
    decision: bool = False  # a committee decision: names who decided and from which session

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


F, T = Field, FieldType
CONCLUSION = F("conclusion", T.STR, max_len=LONG_TEXT_MAX)
OBJECTIONS = F("objections", T.ENUM, choices=("none", "resolved", "upheld"))
NOTICE = (F("start_on", T.DATE), F("end_on", T.DATE), OBJECTIONS)
CLOSE_REASONS = ("withdrawn", "not_admitted", "disqualified", "transferred_out", "deceased")

STEPS: dict[str, StepSpec] = {s.id: s for s in (
    StepSpec("application_submitted", "递交入党申请书", "Application submitted", "applicant",
             Recorder.BRANCH, (F("person", T.PERSON), F("branch", T.STR, required=False)),
             ("application_letter",)),
    StepSpec("applicant_interviewed", "党组织派人谈话", "Applicant interviewed", "applicant",
             Recorder.BRANCH, (F("interviewer", T.STR),), ("interview_record",)),
    StepSpec("activist_designated", "推荐和确定入党积极分子", "Activist designated", "applicant",
             Recorder.BRANCH,
             (F("method", T.ENUM, choices=("member_recommendation", "mass_org_recommendation")),
              F("committee_meeting_on", T.DATE)),
             ("recommendation_record", "activist_registration")),
    StepSpec("activist_filed", "报上级党委备案", "Activist filed with the committee", "activist",
             Recorder.BRANCH, (), ("filing_record",)),
    StepSpec("cultivators_assigned", "指定培养联系人", "Cultivators assigned", "activist",
             Recorder.BRANCH, (F("cultivators", T.ROSTER_IDS, min=1, max=2),)),
    StepSpec("activist_assessed", "培养教育考察", "Activist assessed", "activist",
             Recorder.BRANCH, (F("period", T.STR, pattern=r"[0-9]{4}H[12]"), CONCLUSION),
             ("assessment_record",), repeatable=True),
    StepSpec("training_attended", "参加党校培训", "Training attended", "activist",
             Recorder.COMMITTEE,
             (F("training_id", T.INT, min=1), F("attended", T.BOOL),
              F("hours", T.NUMBER, required=False, min=0, max=HOURS_MAX)), repeatable=True),
    StepSpec("candidate_designated", "确定发展对象", "Candidate designated", "activist",
             Recorder.BRANCH, (F("opinions_heard", T.BOOL), F("committee_meeting_on", T.DATE)),
             ("candidate_registration",)),
    StepSpec("candidate_filed", "报上级党委备案", "Candidate filed with the committee", "candidate",
             Recorder.BRANCH, (), ("filing_record",)),
    StepSpec("introducers_assigned", "确定入党介绍人", "Introducers assigned", "candidate",
             Recorder.BRANCH, (F("introducers", T.ROSTER_IDS, min=2, max=2),)),
    StepSpec("political_review_concluded", "进行政治审查", "Political review concluded",
             "candidate", Recorder.BRANCH, (F("conclusion", T.ENUM, choices=("pass", "fail")),),
             ("political_review_conclusion",)),
    StepSpec("candidate_trained", "开展集中培训", "Candidate trained", "candidate",
             Recorder.COMMITTEE,
             (F("start_on", T.DATE), F("end_on", T.DATE),
              F("hours", T.NUMBER, min=0, max=HOURS_MAX)),
             ("training_certificate",), repeatable=True),
    StepSpec("branch_committee_reviewed", "支部委员会审查", "Branch committee reviewed",
             "candidate", Recorder.BRANCH, (F("result", T.ENUM, choices=("pass", "fail")),),
             ("branch_committee_minutes",), repeatable=True),
    StepSpec("pre_review_decided", "上级党委预审", "Pre-review decided", "candidate",
             Recorder.COMMITTEE,
             (F("decision", T.ENUM, choices=("approved", "returned")),
              F("comments", T.STR, required=False, max_len=LONG_TEXT_MAX)), ("pre_review_form",), repeatable=True,
             decision=True),
    StepSpec("public_notice_held", "公示", "Public notice held", "candidate",
             Recorder.BRANCH, NOTICE, ("public_notice_record",), repeatable=True),
    StepSpec("application_form_completed", "填写入党志愿书", "Application form completed",
             "candidate", Recorder.BRANCH, (F("form_number", T.STR),),
             ("membership_application_form",)),
    StepSpec("admission_voted", "支部大会讨论表决", "Admission voted", "candidate",
             Recorder.BRANCH, (F("vote", T.VOTE),), ("general_meeting_minutes",),
             repeatable=True),
    StepSpec("committee_interviewed", "上级党委派人谈话", "Committee interview held", "candidate",
             Recorder.COMMITTEE, (F("interviewer", T.STR),), ("committee_interview_record",)),
    StepSpec("admission_approved", "上级党委审批", "Admission approved", "candidate",
             Recorder.COMMITTEE,
             (F("decision", T.ENUM, choices=("approved", "rejected")),
              F("extension_reason", T.STR, required=False, max_len=LONG_TEXT_MAX)),
             ("approval_record",),
             repeatable=True, decision=True),  # again after a rejection; one per vote
    StepSpec("admission_filed", "报再上级组织部门备案", "Admission filed upward", "probationary",
             Recorder.COMMITTEE),
    StepSpec("group_assigned", "编入党支部和党小组", "Assigned to a party group", "probationary",
             Recorder.BRANCH, (F("group", T.STR),)),
    StepSpec("oath_taken", "入党宣誓", "Oath taken", "probationary", Recorder.BRANCH),
    StepSpec("probation_assessed", "继续教育考察", "Probationary member assessed", "probationary",
             Recorder.BRANCH, (F("period", T.STR, pattern=r"[0-9]{4}Q[1-4]"), CONCLUSION),
             ("assessment_record",), repeatable=True),
    StepSpec("conversion_requested", "提出转正申请", "Conversion requested", "probationary",
             Recorder.BRANCH, (), ("conversion_letter",),
             repeatable=True),  # again after an extension; once per probation round
    StepSpec("conversion_notice_held", "转正公示", "Conversion notice held", "probationary",
             Recorder.BRANCH, NOTICE, ("public_notice_record",), repeatable=True),
    StepSpec("conversion_voted", "支部大会讨论转正", "Conversion voted", "probationary",
             Recorder.BRANCH,
             (F("vote", T.VOTE), F("outcome", T.ENUM, choices=("convert", "extend", "disqualify")),
              F("extend_months", T.INT, required=False, min=1, max=24)),
             ("general_meeting_minutes",), repeatable=True),
    StepSpec("conversion_approved", "上级党委审批转正", "Conversion approved", "probationary",
             Recorder.COMMITTEE, (F("decision", T.ENUM, choices=("approved", "rejected")),),
             ("approval_record",), repeatable=True, decision=True),  # once per resolution
    StepSpec("file_archived", "材料归档", "File archived", "full_member",
             Recorder.BRANCH, (F("archive_ref", T.STR),)),
    StepSpec("case_closed", "终止", "Case closed", "any", Recorder.EITHER,
             (F("reason", T.ENUM, choices=CLOSE_REASONS),)),
    StepSpec("case_transferred", "组织关系转接", "Case transferred", "any", Recorder.COMMITTEE,
             (F("to_branch", T.STR),), repeatable=True),
    StepSpec("step_corrected", "更正", "Step corrected", "any", Recorder.EITHER,
             (F("corrects", T.INT, min=1), F("fields", T.FIELDS),
              F("reason", T.STR, max_len=LONG_TEXT_MAX)),
             repeatable=True),
)}

# The committee's decisions (pre-review sign-off, admission and conversion approvals): each record
# names the roster member who decided and the session it came from, not only the account.
COMMITTEE_DECISIONS: frozenset[str] = frozenset(s.id for s in STEPS.values() if s.decision)
assert all(STEPS[s].recorder is Recorder.COMMITTEE for s in COMMITTEE_DECISIONS)


def is_committee_decision(step: str, corrected_step: str | None = None) -> bool:
    """A committee decision, or a correction of one (which changes what was decided)."""
    if step == "step_corrected":
        return corrected_step in COMMITTEE_DECISIONS
    return step in COMMITTEE_DECISIONS


# The occupations of the party statistics (党内统计), asked on the application (optional):
# the year-end report counts new members by them, and the first three are "front line".
OCCUPATIONS: dict[str, tuple[str, str]] = {
    "worker": ("工人", "Worker"),
    "farmer": ("农牧渔民", "Farmer, herder or fisher"),
    "professional": ("专业技术人员", "Professional or technical staff"),
    "manager": ("企事业单位管理人员", "Manager in an enterprise or institution"),
    "official": ("党政机关工作人员", "Government or party staff"),
    "student": ("学生", "Student"),
    "military": ("解放军、武警", "Armed forces"),
    "other": ("其他职业", "Other"),
}

PHONE_PATTERN = "[0-9+() 转-]{0,24}[0-9][0-9+() 转-]{0,24}"
PERSON_FIELDS = (
    F("name", T.STR, max_len=NAME_MAX), F("gender", T.ENUM, choices=("male", "female")),
    F("birth_date", T.DATE),
    F("id_number", T.STR, required=False, pattern=r"[0-9]{17}[0-9Xx]"),
    # only ever the masked form (`services.cases.recording.mask_id`), set by the system
    F("id_number_masked", T.STR, required=False, pattern=MASKED_ID_PATTERN),
    F("ethnicity", T.STR, required=False), F("education", T.STR, required=False),
    F("occupation", T.ENUM, required=False, choices=tuple(OCCUPATIONS)),
    F("unit", T.STR, required=False),
    # digits with what people write between them: +86, (0571), 0571-8765 4321, 转 12
    F("phone", T.STR, required=False, pattern=PHONE_PATTERN),
)

DOCUMENT_LABELS: dict[str, str] = {
    "application_letter": "入党申请书", "interview_record": "谈话记录",
    "recommendation_record": "推荐情况记录", "activist_registration": "入党积极分子登记表",
    "filing_record": "备案材料", "assessment_record": "考察记录",
    "candidate_registration": "发展对象登记表", "political_review_conclusion": "政审结论",
    "training_certificate": "培训结业证明", "branch_committee_minutes": "支委会会议记录",
    "pre_review_form": "预审表", "public_notice_record": "公示材料",
    "membership_application_form": "入党志愿书", "general_meeting_minutes": "支部大会会议记录",
    "committee_interview_record": "党委谈话记录", "approval_record": "审批意见",
    "conversion_letter": "转正申请书",
}


def spec(step_id: str) -> StepSpec:
    """The catalogue entry; KeyError for an unknown step is the caller's 'invalid' case."""
    return STEPS[step_id]


def parse_date(value: object) -> date | None:
    """A `YYYY-MM-DD` date between YEAR_MIN and YEAR_MAX, else None: a date beyond them is a
    typing error, and date arithmetic near year 9999 overflows (deadlines, ages)."""
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return day if YEAR_MIN <= day.year <= YEAR_MAX else None


DATE_PROBLEM = f"必须是 {YEAR_MIN}–{YEAR_MAX} 年间 YYYY-MM-DD 格式的有效日期"
VALID_DATE = Message("必须是 YYYY-MM-DD 格式的有效日期")  # a date with its own bounds
_NUL = re.compile("\x00")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # \t \n \r may stay
_INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}
# Letters and symbols that show as nothing (Hangul fillers, the blank Braille pattern), and
# what shows only on another character (variation selectors, the combining grapheme joiner,
# the common combining marks): a text of them alone is blank. The API's schema says the same
# (api/openapi.py builds its patterns from these ranges).
BLANK_RANGES = ((0x0300, 0x036F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0x2800, 0x2800),
                (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFE20, 0xFE2F), (0xFFA0, 0xFFA0))
# Bidirectional controls reorder what follows them: "王\u202e五" shows as another name.
BIDI_RANGES = ((0x061C, 0x061C), (0x200E, 0x200F), (0x202A, 0x202E), (0x2066, 0x2069))


def char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The ranges as the inside of a regular expression's character class (`\\u` escapes of
    four hex digits, which Python's `re` and the ECMA patterns of JSON Schema read alike)."""
    return "".join(f"\\u{lo:04x}" + (f"-\\u{hi:04x}" if hi != lo else "") for lo, hi in ranges)


_BLANK = re.compile(f"[{char_class(BLANK_RANGES)}]")
_BIDI = re.compile(f"[{char_class(BIDI_RANGES)}]")


def visible(text: str) -> bool:
    """Whether a text shows anything: not only spaces, line breaks, zero-width or format
    characters, fillers or marks without a letter (a name of U+200B or U+3164 alone would list
    as a blank)."""
    return any(not c.isspace() and unicodedata.category(c) not in _INVISIBLE
               and not _BLANK.match(c) for c in text)


def text_problem(value: object, max_len: int = TEXT_MAX) -> str | None:
    """The Chinese reason a free text is unacceptable, or None. Measured trimmed; longer bounds
    than TEXT_MAX allow line breaks and tabs, other control characters never (NUL cannot be
    stored in PostgreSQL; a lone surrogate cannot be encoded)."""
    if not isinstance(value, str):
        return Message("必须填写文字")
    text = value.strip()
    if not text:
        return "必填"
    if len(text) > max_len:
        return Message("不能超过 %(n)d 个字符", n=max_len)
    if _NUL.search(text):
        return Message("不能包含 NUL 字符")
    if _SURROGATE.search(text):
        return Message("包含无效的字符（不成对的代理码位）")
    if _BIDI.search(text):
        return Message("不能包含文字方向控制字符")
    if (_CONTROL_LINES if max_len > TEXT_MAX else _CONTROL_ONE_LINE).search(text):
        return (Message("不能包含控制字符") if max_len > TEXT_MAX
                else Message("不能包含控制字符或换行"))
    if not visible(text):
        return Message("必须填写文字（不能只有空白或不可见字符）")
    return None


def optional_text_problem(value: object, max_len: int = LONG_TEXT_MAX) -> str | None:
    """As `text_problem`, for a text that may be left out (None or blank)."""
    if value is None or isinstance(value, str) and not value.strip():
        return None
    return text_problem(value, max_len)


# what an id or a count may be; beyond it no column can hold it (held by votes, which this
# module imports, so a vote's counts have the same bound)
MAX_INT = votes.COUNT_MAX


def is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT


def _check_number(f: Field, value: object, integer: bool) -> str | None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        return "必须是整数" if integer else "必须是数字"
    assert isinstance(value, (int, float))
    # the range first: math.isfinite of an integer too large for a float raises
    if abs(value) > MAX_INT or not math.isfinite(value):
        return "数值超出范围"
    if f.min is not None and value < f.min:
        return f"不能小于 {f.min:g}"
    if f.max is not None and value > f.max:
        return f"不能大于 {f.max:g}"
    return None


def _check_roster_ids(f: Field, value: object, roster: Mapping[int, Any] | None) -> str | None:
    if not isinstance(value, list) or not all(is_id(v) for v in value):
        return "必须是花名册成员编号的列表"
    if len(set(value)) != len(value):
        return "不能重复"
    if f.min is not None and len(value) < f.min or f.max is not None and len(value) > f.max:
        lo, hi = int(f.min or 0), int(f.max or 0)
        return f"必须是 {lo} 名" if lo == hi else f"必须是 {lo}–{hi} 名"
    if roster is not None:
        unknown = [v for v in value if v not in roster]
        if unknown:
            return f"不是本支部花名册成员：{', '.join(map(str, unknown))}"
    return None


def check_field(f: Field, value: object, roster: Mapping[int, Any] | None = None) -> str | None:
    """The Chinese reason a value is unacceptable, or None."""
    if f.type is T.ENUM:
        if not isinstance(value, str) or value not in f.choices:
            return "必须是以下之一：" + " / ".join(f.choices)
        return None
    if f.type is T.STR:
        problem = text_problem(value, f.max_len)
        if problem is None and f.pattern and not re.fullmatch(f.pattern, str(value).strip()):
            return "格式不正确"
        return problem
    if f.type is T.DATE:
        return None if parse_date(value) else DATE_PROBLEM
    if f.type is T.BOOL:
        return None if isinstance(value, bool) else "必须是 true 或 false"
    if f.type in (T.INT, T.NUMBER):
        return _check_number(f, value, f.type is T.INT)
    if f.type is T.ROSTER_IDS:
        return _check_roster_ids(f, value, roster)
    if f.type is T.VOTE:
        return _check_vote(value)
    if f.type is T.PERSON:
        return _check_person(value)
    return None if isinstance(value, dict) and value else "必须是非空对象"


def _check_vote(value: object) -> str | None:
    if not isinstance(value, dict):
        return "必须是表决记录对象"
    try:
        vote = votes.Vote.from_data(value)
    except votes.VoteInvalid as exc:
        return "；".join(f"{k}: {v}" for k, v in exc.fields.items())
    problems = votes.validate(vote)
    return "；".join(problems.values()) if problems else None


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number_valid(number: str) -> bool:
    """GB 11643 check digit of an 18-digit resident ID number."""
    if not re.fullmatch(r"[0-9]{17}[0-9Xx]", number):
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == number[17].upper()


def person_errors(value: Mapping[str, Any]) -> dict[str, str]:
    errors = validate_fields(PERSON_FIELDS, value)
    number = value.get("id_number")
    if "id_number" not in errors and isinstance(number, str):
        if not id_number_valid(number):
            errors["id_number"] = "身份证号码校验位不正确"
        else:
            problem = id_number_disagrees(number, value.get("birth_date"), value.get("gender"))
            if problem:
                errors["id_number"] = problem
    return errors


def id_number_disagrees(number: str, birth_date: Any, gender: Any) -> str | None:
    """GB 11643: digits 7–14 are the birth date and digit 17 is odd for men, even for women;
    an ID number that says otherwise than the person's details is a typing error somewhere."""
    born = parse_date(birth_date) if isinstance(birth_date, str) else None
    coded = number[6:14]
    if born is not None and coded != born.strftime("%Y%m%d"):
        said = "-".join((coded[:4], coded[4:6], coded[6:]))  # as the birth date is written
        return Message("身份证号码中的出生日期（%(coded)s）与出生日期 %(born)s 不一致",
                       coded=said, born=born.isoformat())
    if gender in ("male", "female") and (int(number[16]) % 2 == 1) != (gender == "male"):
        return "身份证号码第 17 位（奇数为男性、偶数为女性）与性别不一致"
    return None


def _check_person(value: object) -> str | None:
    if not isinstance(value, dict):
        return "必须是人员信息对象"
    errors = person_errors(value)
    return "；".join(f"{k}: {v}" for k, v in errors.items()) or None


def validate_fields(fields: tuple[Field, ...], data: Mapping[str, Any],
                    roster: Mapping[int, Any] | None = None) -> dict[str, str]:
    errors: dict[str, str] = {}
    for f in fields:
        if data.get(f.name) is None:
            if f.required:
                errors[f.name] = "必填"
            continue
        problem = check_field(f, data[f.name], roster)
        if problem:
            errors[f.name] = problem
    known = {f.name for f in fields}
    for extra in sorted(set(data) - known):
        errors[extra] = "未知字段"
    return errors


def validate_data(step_id: str, data: Mapping[str, Any],
                  roster: Mapping[int, Any] | None = None) -> dict[str, str]:
    """Field errors (field -> Chinese reason) for a step's data; empty when it is acceptable."""
    s = STEPS[step_id]
    errors = validate_fields(s.fields, data, roster)
    if not errors and step_id in ("public_notice_held", "conversion_notice_held", "candidate_trained"):
        if parse_date(data["end_on"]) < parse_date(data["start_on"]):  # type: ignore[operator]
            errors["end_on"] = "结束日期早于开始日期"
    if not errors and step_id == "conversion_voted" and data["outcome"] == "extend" \
            and data.get("extend_months") is None:
        errors["extend_months"] = "延长预备期必须填写延长月数"
    return errors
