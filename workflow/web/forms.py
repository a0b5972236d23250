"""WTForms built from the step catalogue, so a new step or field needs no new form code."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from workflow.services.interchange.sheet_columns import CHOICE_LABELS  # one table
from workflow.steps import (
    DOCUMENT_LABELS,
    LONG_TEXT_MAX,
    NAME_MAX,
    OCCUPATIONS,
    TEXT_MAX,
    FieldType,
    StepSpec,
)
from workflow.steps import Field as StepField

FIELD_LABELS = {
    "interviewer": "谈话人", "method": "方式", "committee_meeting_on": "支委会会议日期",
    "cultivators": "培养联系人", "period": "考察期（如 2025H1 / 2025Q3）", "conclusion": "结论",
    "training_id": "培训班序号（培训班页面地址中的数字，不是期次）", "attended": "是否参加", "hours": "学时",
    "opinions_heard": "已听取党小组、培养联系人和党员群众意见", "introducers": "入党介绍人",
    "start_on": "开始日期", "end_on": "结束日期", "result": "审查结果", "decision": "决定",
    "comments": "意见", "objections": "异议情况", "form_number": "志愿书编号", "vote": "表决",
    "extension_reason": "延长审批期限的原因", "group": "党小组", "outcome": "决议",
    "extend_months": "延长月数", "archive_ref": "档案号", "reason": "原因",
    "to_branch": "转入党支部代码", "corrects": "更正的记录编号", "branch": "党支部",
}


def _at_most(n: int) -> Length:
    """The same bound as the services' (workflow.steps), said at the field before submitting;
    the service still checks the trimmed text, so pages and API refuse the same."""
    return Length(max=n, message=_l("不能超过 %(n)d 个字符", n=n))


def _choices(values: tuple[str, ...]) -> list[SelectChoice]:
    return [SelectChoice(v, _l(CHOICE_LABELS.get(v, v))) for v in values]


def _pairs(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(v, label) for v, label in pairs]


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名"))])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码"))])


class PasswordForm(FlaskForm):
    old_password = PasswordField(_l("原密码"), validators=[DataRequired(_l("请输入原密码"))])
    # the rules (length, common passwords, username, not the old one) are the service's alone
    new_password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请输入新密码"))])


class VoteForm(Form):
    class Meta:
        def get_translations(self, form: Any) -> Any:
            """WTForms' own messages ("not a valid integer") in the page's language, as a
            FlaskForm has them: a subform is a plain Form, which spoke English on every page."""
            from flask_wtf.i18n import translations
            return translations

    eligible = IntegerField(_l("应到有表决权的正式党员"), validators=[InputRequired(_l("必填")), NumberRange(min=1)])
    present = IntegerField(_l("实到"), validators=[InputRequired(_l("必填")), NumberRange(min=0)])
    written = IntegerField(_l("书面意见"), default=0, validators=[InputRequired(_l("必填")), NumberRange(min=0)])
    yes = IntegerField(_l("赞成"), validators=[InputRequired(_l("必填")), NumberRange(min=0)])
    no = IntegerField(_l("反对"), default=0, validators=[InputRequired(_l("必填")), NumberRange(min=0)])
    abstain = IntegerField(_l("弃权"), default=0, validators=[InputRequired(_l("必填")), NumberRange(min=0)])
    method = SelectField(_l("表决方式"), choices=_choices(("secret_ballot", "show_of_hands")))


def _field(f: StepField, roster: list[tuple[int, str]]) -> Field:
    label = _l(FIELD_LABELS.get(f.name, f.name))  # the catalogue has them (label_messages)
    req = [InputRequired(_l("必填"))] if f.required else [Optional()]
    if f.type is FieldType.DATE:
        return DateField(label, validators=req)
    if f.type is FieldType.BOOL:
        return RadioField(label, choices=_pairs([("true", _l("是")), ("false", _l("否"))]), validators=req)
    if f.type is FieldType.INT:
        return IntegerField(label, validators=req)
    if f.type is FieldType.NUMBER:
        return DecimalField(label, validators=req)
    if f.type is FieldType.ENUM:
        return SelectField(label, choices=_choices(f.choices), validators=req)
    if f.type is FieldType.ROSTER_IDS:
        return SelectMultipleField(label, choices=_pairs([(str(i), n) for i, n in roster]), validators=req)
    if f.type is FieldType.VOTE:
        return FormField(VoteForm, label=label)
    req = [*req, _at_most(f.max_len)]
    return TextAreaField(label, validators=req) if f.max_len > TEXT_MAX \
        else StringField(label, validators=req)


DECIDER_LABEL = "决定人"


CORRECTION_REASON_MAX = 500


def step_form(spec: StepSpec, roster: list[tuple[int, str]],
              deciders: list[tuple[int, str]] | None = None,
              correction: bool = False) -> FlaskForm:
    """A form class for one step: occurred_on, its data fields, note, paperwork, acknowledgement;
    with `deciders`, the picker naming who took a committee decision; with `correction`, the
    same step's form for correcting a record, which asks for the reason and takes no papers."""
    class StepForm(FlaskForm):
        occurred_on = DateField(_l("发生日期"), validators=[InputRequired(_l("请填写实际发生的日期"))])
        note = TextAreaField(_l("备注"), validators=[Optional(), _at_most(LONG_TEXT_MAX)])
        version = HiddenField()
        acknowledge = BooleanField(_l("我确认上述情况属实，仍需记录"))
        reason = TextAreaField(_l("原因说明"), validators=[Optional(), _at_most(LONG_TEXT_MAX)])

    if correction:
        StepForm.correction_reason = TextAreaField(  # type: ignore[attr-defined]
            _l("更正原因"), validators=[InputRequired(_l("请填写更正原因")),
                                    _at_most(CORRECTION_REASON_MAX)])

    for f in spec.fields:
        if f.type is not FieldType.PERSON and f.name != "branch":
            setattr(StepForm, f"data_{f.name}", _field(f, roster))
    if deciders is not None:
        label = DECIDER_LABEL + ("（更正上级党委的决定时必选）" if spec.id == "step_corrected" else "")
        StepForm.decided_by = SelectField(  # type: ignore[attr-defined]
            label, choices=_pairs([("", "— 请选择 —")] + [(str(i), n) for i, n in deciders]),
            validators=[Optional()], validate_choice=False)  # the service says what is wrong
    for doc in () if correction else spec.documents:
        setattr(StepForm, f"doc_{doc}_ref", StringField(_l("%(doc)s：纸质存放位置",
                                                                 doc=_l(DOCUMENT_LABELS[doc])),
                                                        validators=[Optional(),
                                                                    _at_most(TEXT_MAX)]))
        setattr(StepForm, f"doc_{doc}_file", FileField(_l("%(doc)s：上传文件",
                                                                doc=_l(DOCUMENT_LABELS[doc]))))
    return StepForm()


def decider_value(raw: Any) -> Any:
    """The picked decider's roster member id; anything else goes to the service to refuse."""
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return raw or None


def prefill(spec: StepSpec, form: FlaskForm, data: dict[str, Any]) -> None:
    """Put a record's data into its step form, the reverse of `form_data`."""
    from datetime import date
    for f in spec.fields:
        field = getattr(form, f"data_{f.name}", None)
        if field is None or data.get(f.name) is None:
            continue
        value = data[f.name]
        if f.type is FieldType.DATE:
            field.data = date.fromisoformat(value)
        elif f.type is FieldType.BOOL:
            field.data = "true" if value else "false"
        elif f.type is FieldType.ROSTER_IDS:
            field.data = [str(v) for v in value]
        elif f.type is FieldType.VOTE:
            for key, sub in value.items():
                if key in field.form:
                    field.form[key].data = sub
        else:
            field.data = value


def form_data(spec: StepSpec, form: FlaskForm) -> dict[str, Any]:
    """The step's data dict as the services expect it (same shape as the API's JSON)."""
    data: dict[str, Any] = {}
    for f in spec.fields:
        field = getattr(form, f"data_{f.name}", None)
        if field is None or field.data in (None, "", []):
            continue
        value = field.data
        if f.type is FieldType.DATE:
            value = value.isoformat()
        elif f.type is FieldType.BOOL:
            value = value == "true"
        elif f.type is FieldType.NUMBER:
            value = float(value)
        elif f.type is FieldType.ROSTER_IDS:
            value = [int(v) for v in value]
        elif f.type is FieldType.VOTE:
            value = {k: v for k, v in value.items() if k != "csrf_token"}
        data[f.name] = value
    return data


class CaseForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请填写姓名")), _at_most(NAME_MAX)])
    gender = SelectField(_l("性别"), choices=_choices(("male", "female")))
    birth_date = DateField(_l("出生日期"), validators=[InputRequired(_l("请填写出生日期"))])
    id_number = StringField(_l("身份证号码"), validators=[Optional(), _at_most(18)])
    ethnicity = StringField(_l("民族"), validators=[Optional(), _at_most(TEXT_MAX)])
    education = StringField(_l("学历"), validators=[Optional(), _at_most(TEXT_MAX)])
    occupation = SelectField(_l("职业"), choices=[SelectChoice("", _l("（未填）")),
                                                  *_choices(tuple(OCCUPATIONS))],
                             validators=[Optional()])
    unit = StringField(_l("工作单位"), validators=[Optional(), _at_most(TEXT_MAX)])
    phone = StringField(_l("联系电话"), validators=[Optional(), _at_most(TEXT_MAX)])
    application_date = DateField(_l("递交申请书日期"), validators=[InputRequired(_l("请填写日期"))])
    acknowledge = BooleanField(_l("我确认上述情况属实，仍需记录"))
    reason = TextAreaField(_l("原因说明"), validators=[Optional(), _at_most(LONG_TEXT_MAX)])


class PersonCorrectionForm(CaseForm):
    """The application's own form, prefilled, for correcting the applicant's details; the ID
    number is never shown in clear, so a blank one means unchanged."""
    correction_reason = TextAreaField(_l("更正原因"), validators=[
        InputRequired(_l("请填写更正原因")), _at_most(CORRECTION_REASON_MAX)])


class SignOffForm(FlaskForm):
    decision = RadioField(_l("预审意见"), choices=_choices(("approved", "returned")),
                          validators=[InputRequired(_l("请选择"))])
    comments = TextAreaField(_l("意见"), validators=[Optional(), _at_most(LONG_TEXT_MAX)])
    occurred_on = DateField(_l("预审日期"), validators=[InputRequired(_l("请填写日期"))])
