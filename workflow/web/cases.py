"""Branch pages: the work queue, a case's page and the step forms built from the catalogue."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow.persistence import repository as repo
from workflow.services import cases
from workflow.services.cases import decisions, documents
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.errors import (
    BadRequest,
    Conflict,
    DuplicatePerson,
    Forbidden,
    Invalid,
    NotFound,
    ProcedureViolation,
    ServiceError,
)
from workflow.services.interchange import excel_export
from workflow.services.interchange.sheet_columns import choice_label
from workflow.services.reports import worklist
from workflow.steps import COMMITTEE_DECISIONS, DOCUMENT_LABELS, STEPS, FieldType
from workflow.web import auth, diagram
from workflow.web.common import audited, error_text, locale, service_error_page, tr
from workflow.web.forms import (
    FIELD_LABELS,
    CaseForm,
    PersonCorrectionForm,
    decider_value,
    form_data,
    prefill,
    step_form,
)

bp = Blueprint("cases", __name__, url_prefix="/cases")
bp.before_request(login_required(lambda: None))
# a service error no view handles (an unknown `?branch=`) is its error page, not a 500
bp.register_error_handler(ServiceError, service_error_page)


@bp.get("/")
def home() -> Any:
    branch = request.args.get("branch")
    work = worklist.worklist(current_user, today(), branch)
    audited("list_cases", subjects=work["total"],
            detail=f"工作台 branch={branch}" if branch else "工作台")
    return render_template("cases/home.html", work=work)


STAGE_NAMES = {"applicant": "入党申请人", "activist": "入党积极分子", "candidate": "发展对象",
               "probationary": "预备党员", "full_member": "正式党员", "closed": "已终止"}


@bp.get("/search")
def search() -> Any:
    """Find a person: by name or the last digits of the ID number, stage, branch, overdue
    duties, or what waits for the user (the same filters as GET /api/v1/cases)."""
    args = request.args
    q, stage, branch = (args.get(k, "").strip() or None for k in ("q", "stage", "branch"))
    overdue, mine = args.get("overdue") == "1", args.get("mine") == "1"
    page = int(args["page"]) if args.get("page", "").isascii() and args.get("page", "").isdigit() and len(args["page"]) < 7 else 1
    found: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": 20}
    if stage is not None and stage not in STAGE_NAMES:  # a stage the list does not offer
        flash(_("阶段不正确：请从列表中选择"), "error")
        stage = None
    asked = any((q, stage, branch, overdue, mine))
    if asked:
        try:
            found = cases.list_cases(current_user, branch, stage, q, max(page, 1), 20,
                                     overdue=overdue, waiting_for_me=mine)
        except (BadRequest, NotFound) as exc:
            flash(error_text(exc), "error")
        audited("list_cases", subjects=len(found["items"]),
                detail=" ".join(f"{k}={'(已检索)' if k == 'q' else v}" for k, v in (
                    ("q", q), ("stage", stage), ("branch", branch), ("overdue", overdue),
                    ("mine", mine)) if v) or None)
    pages = max(1, -(-found["total"] // found["per_page"]))
    return render_template("cases/search.html", found=found, asked=asked, q=q or "",
                           stage=stage or "", branch=branch or "", overdue=overdue, mine=mine,
                           pages=pages, stages=STAGE_NAMES,
                           branches=access.visible_branches(current_user))


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    if current_user.role != "branch_secretary":  # a case opens in a branch, by its secretary
        abort(403)
    form = CaseForm()
    violations: list[Any] = []
    if form.validate_on_submit():
        person = {k: getattr(form, k).data for k in ("name", "gender", "ethnicity", "education",
                                                     "occupation", "unit", "phone", "id_number")
                  if getattr(form, k).data}
        person["birth_date"] = form.birth_date.data.isoformat()
        try:
            case = cases.open_case(current_user, current_user.org.code, person,
                                   form.application_date.data.isoformat(),
                                   form.acknowledge.data, form.reason.data)
        except ProcedureViolation as exc:
            violations = exc.extra["violations"]
        except (Invalid, Forbidden, NotFound) as exc:
            _field_errors(form, exc, prefix="person.")
        except DuplicatePerson as exc:  # the person already has a case: say so on the field
            form.id_number.errors = [error_text(exc)]
        else:
            flash(_("已建立案件并记录入党申请书"), "info")
            return redirect(url_for("cases.show", case_id=case["id"]))
    return render_template("cases/new.html", form=form, violations=violations)


def _summary_en(step: str, data: dict[str, Any], names: dict[int, str]) -> str:
    """A step's data in one line of English (excel_export.summarize is the Chinese one):
    labels and choices from the catalogue, people by name, a vote by its counts."""
    parts = []
    for f in STEPS[step].fields:
        value = data.get(f.name)
        if value is None or f.name == "branch" or f.type is FieldType.PERSON:
            continue
        if f.type is FieldType.VOTE and isinstance(value, dict):
            text = ", ".join(f"{k.replace('_', ' ')} "  # the counts' names are English words
                             + (str(tr(choice_label(v))) if k == "method" else str(v))
                             for k, v in value.items())
        elif f.type is FieldType.ROSTER_IDS and isinstance(value, list):
            text = ", ".join(names.get(i, f"#{i}") for i in value)
        elif f.type is FieldType.BOOL:
            text = "yes" if value else "no"
        elif f.type is FieldType.FIELDS and isinstance(value, dict):
            text = "; ".join(f"{tr(FIELD_LABELS.get(k, k))} → {tr(choice_label(v))}"
                             for k, v in value.items())
        else:
            text = str(tr(choice_label(value)))
        parts.append(f"{tr(FIELD_LABELS.get(f.name, f.name))}: {text}")
    return "; ".join(parts)


@bp.get("/<int:case_id>")
def show(case_id: int) -> Any:
    try:
        case = cases.get_case(current_user, case_id, today(),
                              label=tr if locale() == "en" else None)
    except NotFound:
        abort(404)
    audited("view_case", case_id=case_id)
    names = _names(case_id)  # what each step recorded, in words: people by name, votes, …
    summarize = _summary_en if locale() == "en" else excel_export.summarize
    summaries = {s["id"]: summarize(s["step"], s["data"], names) for s in case["steps"]}
    originals = {s["id"]: summarize(s["step"], s["original"]["data"], names)
                 for s in case["steps"] if s["original"]}
    return render_template("cases/show.html", case=case, steps=STEPS,
                           summaries=summaries, originals=originals,
                           position=diagram.position(case["state"], locale()),
                           field_labels={**FIELD_LABELS, "occurred_on": "发生日期"},
                           doc_labels=DOCUMENT_LABELS)


def _field_errors(form: Any, exc: ServiceError, prefix: str = "") -> None:
    shown = False
    for key, message in exc.extra.get("fields", {}).items():
        name = key.removeprefix(prefix)
        for candidate in (name, f"data_{name}"):
            field = getattr(form, candidate, None)
            if field is not None:
                field.errors = [*field.errors, tr(message)]
                shown = True
                break
    # no field of the form to show the reasons at: they go with the message, each after its
    # field's name (never a key), a reason that only repeats the message left out
    flash(error_text(exc, with_fields=not shown,
                     labels={**FIELD_LABELS, "occurred_on": "发生日期"}), "error")


def _names(case_id: int) -> dict[int, str]:
    case = access.visible_case(current_user, case_id)
    return {m.id: m.name for m in repo.roster(case.branch_id).values()}


def _roster(case_id: int) -> list[tuple[int, str]]:
    case = access.visible_case(current_user, case_id)
    return [(m.id, f"{m.name}（{'正式党员' if m.status == 'full' else '预备党员'}）")
            for m in repo.roster(case.branch_id).values()]


def _deciders(step: str) -> list[tuple[int, str]] | None:
    """The "决定人" picker's people, when this step is (or may correct) a committee decision and
    this account must name who decided (a shared account, or one not linked to the roster)."""
    may_decide = step in COMMITTEE_DECISIONS or (
        step == "step_corrected" and current_user.role == "committee_organizer")
    if not may_decide or not decisions.must_name(current_user, auth.origin()):
        return None
    return decisions.choices(current_user)


@bp.route("/<int:case_id>/steps/<step>", methods=["GET", "POST"])
def record(case_id: int, step: str) -> Any:
    if step not in STEPS or step == "application_submitted":
        abort(404)
    try:
        case = cases.get_case(current_user, case_id, today())
    except NotFound:
        abort(404)
    try:  # a role that cannot record this step gets no form that fails on submit
        access.check_may_record(current_user, step)
    except Forbidden:
        abort(403)
    spec = STEPS[step]
    form = step_form(spec, _roster(case_id), _deciders(step))
    if request.method == "GET":
        form.version.data = str(case["version"])
        form.occurred_on.data = today()
    violations: list[Any] = []
    if form.validate_on_submit():
        try:
            result = cases.record_step(
                current_user, case_id, step, form.occurred_on.data.isoformat(),
                form_data(spec, form), form.note.data or None, int(form.version.data or 0) or None,
                form.acknowledge.data, form.reason.data,
                decided_by=decider_value(form.decided_by.data if "decided_by" in form else None),
                origin=auth.origin())
        except ProcedureViolation as exc:
            violations = exc.extra["violations"]
            if exc.extra.get("fields"):  # confirmed without a reason: say so on the field
                _field_errors(form, exc)
        except Conflict as exc:
            flash(error_text(exc), "error")
        except (Invalid, Forbidden) as exc:
            _field_errors(form, exc)
        else:
            _attach(case_id, result["step"]["id"], spec, form)
            flash(_("已记录「%(step)s」", step=spec.en if locale() == "en" else spec.zh), "info")
            return redirect(url_for("cases.show", case_id=case_id))
    audited("view_case", case_id=case_id, detail=f"步骤表单 {step}")
    return render_template("cases/step.html", case=case, spec=spec, form=form,
                           violations=violations, nxt=next((n for n in case["next"]
                                                            if n["step"] == step), None))


@bp.route("/<int:case_id>/records/<int:record_id>/correct", methods=["GET", "POST"])
def correct(case_id: int, record_id: int) -> Any:
    """A record's own step form, prefilled with what it says now, and a required reason: the
    correction is a new record naming the changed fields; the original stays readable."""
    try:
        case = cases.get_case(current_user, case_id, today())
    except NotFound:
        abort(404)
    target = next((s for s in case["steps"] if s["id"] == record_id), None)
    if target is None or target["step"] == "step_corrected":
        abort(404)
    try:
        access.check_may_record(current_user, "step_corrected",
                                _Recorded(target["step"], target["recorded_by_role"]))
    except Forbidden:
        abort(403)
    if target["step"] == "application_submitted":
        return _correct_person(case, target)
    spec = STEPS[target["step"]]
    deciders = _deciders("step_corrected") if target["step"] in COMMITTEE_DECISIONS else None
    form = step_form(spec, _roster(case_id), deciders, correction=True)
    if request.method == "GET":
        form.version.data = str(case["version"])
        form.occurred_on.data = date.fromisoformat(target["occurred_on"])
        prefill(spec, form, target["data"])
    violations: list[Any] = []
    if form.validate_on_submit():
        new = form_data(spec, form)
        fields = {k: v for k, v in new.items() if target["data"].get(k) != v}
        if form.occurred_on.data.isoformat() != target["occurred_on"]:
            fields["occurred_on"] = form.occurred_on.data.isoformat()
        if not fields:
            form.correction_reason.errors = ["没有修改任何内容：请修改需要更正的项目"]
        else:
            try:
                cases.record_step(
                    current_user, case_id, "step_corrected", today().isoformat(),
                    {"corrects": record_id, "fields": fields,
                     "reason": form.correction_reason.data.strip()},
                    form.note.data or None, int(form.version.data or 0) or None,
                    form.acknowledge.data, form.reason.data,
                    decided_by=decider_value(form.decided_by.data if "decided_by" in form
                                             else None),
                    origin=auth.origin())
            except ProcedureViolation as exc:
                violations = exc.extra["violations"]
                if exc.extra.get("fields"):
                    _field_errors(form, exc)
            except Conflict as exc:
                flash(error_text(exc), "error")
            except (Invalid, Forbidden) as exc:
                _field_errors(form, exc)
            else:
                flash(_("已更正「%(step)s」（#%(id)s）", id=record_id,
                        step=spec.en if locale() == "en" else spec.zh), "info")
                return redirect(url_for("cases.show", case_id=case_id,
                                        _anchor=f"step-{record_id}"))
    audited("view_case", case_id=case_id, detail=f"更正表单 #{record_id}")
    return render_template("cases/step.html", case=case, spec=spec, form=form,
                           violations=violations, nxt=None, correcting=target)


PERSON_KEYS = ("name", "gender", "ethnicity", "education", "occupation", "unit", "phone")


def _correct_person(case: dict[str, Any], target: dict[str, Any]) -> Any:
    """The applicant's details and the application date, corrected like any record: a new
    record with the reason; the case page keeps the original."""
    form = PersonCorrectionForm()
    person = target["data"].get("person", {})
    if request.method == "GET":
        for key in PERSON_KEYS:
            getattr(form, key).data = person.get(key)
        form.birth_date.data = date.fromisoformat(person["birth_date"])
        form.application_date.data = date.fromisoformat(target["occurred_on"])
    if form.validate_on_submit():
        typed = {k: (getattr(form, k).data or "").strip() or None for k in PERSON_KEYS}
        typed["birth_date"] = form.birth_date.data.isoformat()
        changes = {k: v for k, v in typed.items() if v is not None and v != person.get(k)}
        if form.id_number.data and form.id_number.data.strip():
            changes["id_number"] = form.id_number.data.strip()
        fields: dict[str, Any] = {"person": changes} if changes else {}
        if form.application_date.data.isoformat() != target["occurred_on"]:
            fields["occurred_on"] = form.application_date.data.isoformat()
        if not fields:
            form.correction_reason.errors = ["没有修改任何内容：请修改需要更正的项目"]
        else:
            try:
                cases.record_step(current_user, case["id"], "step_corrected", today().isoformat(),
                                  {"corrects": target["id"], "fields": fields,
                                   "reason": form.correction_reason.data.strip()},
                                  version=case["version"], origin=auth.origin())
            except (Invalid, Forbidden, ProcedureViolation, Conflict) as exc:
                _field_errors(form, exc, prefix="fields.person.")
            except DuplicatePerson as exc:
                form.id_number.errors = [error_text(exc)]
            else:
                flash(_("已更正申请人信息"), "info")
                return redirect(url_for("cases.show", case_id=case["id"]))
    audited("view_case", case_id=case["id"], detail=f"更正表单 #{target['id']}")
    return render_template("cases/correct_person.html", case=case, form=form, target=target)


@dataclass(frozen=True)
class _Recorded:
    """What the permission check reads of a record to be corrected."""

    step: str
    recorded_by_role: str


def _attach(case_id: int, record_id: int, spec: Any, form: Any) -> None:
    for doc in spec.documents:
        upload = getattr(form, f"doc_{doc}_file").data
        ref = getattr(form, f"doc_{doc}_ref").data
        # a paper location and a file are both kept (two entries): the original in the
        # cabinet and its scan are different things, and neither replaces the other
        try:
            if ref:
                documents.mark_on_file(current_user, case_id, {"doc_type": doc, "on_file": True,
                                                               "step_record_id": record_id,
                                                               "reference": ref})
            if upload and upload.filename:
                documents.upload(current_user, case_id, record_id, doc, upload.filename,
                                 upload.stream, upload.mimetype)
        except ServiceError as exc:
            flash(_("材料未保存：%(why)s", why=error_text(exc)), "error")


@bp.post("/<int:case_id>/documents")
def attach(case_id: int) -> Any:
    form = request.form
    try:
        upload = request.files.get("file")
        has_file = bool(upload and upload.filename)
        # both given: both kept, the paper location first (a refused file leaves it recorded)
        if not has_file or form.get("reference", "").strip():
            documents.mark_on_file(current_user, case_id, {
                "doc_type": form.get("doc_type"), "step_record_id": form.get("step_record_id"),
                "on_file": True, "reference": form.get("reference", "")})
        if upload and has_file:
            documents.upload(current_user, case_id, form.get("step_record_id"), form.get("doc_type"),
                             upload.filename, upload.stream, upload.mimetype)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(error_text(exc, with_fields=True), "error")
    else:
        flash(_("材料已登记"), "info")
    return redirect(url_for("cases.show", case_id=case_id) + "#timeline")


@bp.get("/<int:case_id>/documents/<int:document_id>")
def document_file(case_id: int, document_id: int) -> Any:
    """An uploaded file of a case in scope, always as a download (attachment, nosniff), so a
    file can never render as a page of this site; logged as an access to personal data."""
    doc, path, media_type = documents.stored_file(current_user, case_id, document_id)
    audited("download_document", case_id=case_id, detail=f"材料 #{doc.id}")
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=media_type,
                         as_attachment=True, download_name=doc.filename or path.name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
