"""Training course pages (item 14): the committee creates a course, invites activists of its
branches and records who attended; auditors read. Thin over services.committee, the same calls
as POST /api/v1/trainings and /attendance, so pages and API accept and refuse the same things.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow.services import committee
from workflow.services.clock import today
from workflow.services.directory import audit
from workflow.services.errors import Conflict, Invalid, ProcedureViolation, ServiceError
from workflow.web.common import audited, error_text, service_error_page, tr, violation_text

bp = Blueprint("trainings", __name__, url_prefix="/trainings")
bp.before_request(login_required(lambda: None))
bp.register_error_handler(ServiceError, service_error_page)


@bp.get("/")
def index() -> Any:
    return render_template("trainings/index.html", courses=committee.training_list(current_user))


def _form_body() -> dict[str, Any]:
    """The form as the API's body: hours a number, invitees case ids (bad input left as is
    so that the service names the field)."""
    hours: Any = request.form.get("hours", "").strip()
    try:
        hours = float(hours)
    except ValueError:
        pass
    return {"title": request.form.get("title", ""), "number": request.form.get("number", ""),
            "start_on": request.form.get("start_on"),
            "end_on": request.form.get("end_on"), "hours": hours,
            "invitees": [int(i) for i in request.form.getlist("invitee") if i.isdigit()]}


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    choices = committee.activist_choices(current_user)
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"invitees": []}
    if request.method == "POST":
        body = _form_body()
        try:
            created = committee.create_training(current_user, body)
        except Invalid as exc:
            errors = {k: tr(v) for k, v in exc.extra.get("fields", {}).items()}
            flash(error_text(exc), "error")
        else:
            flash(_("已创建培训班「%(title)s」，邀请 %(n)d 人", title=created["title"],
                    n=len(created["invitees"])), "info")
            return redirect(url_for("trainings.show", training_id=created["id"]))
    audited("list_cases", subjects=sum(len(g["cases"]) for g in choices), detail="培训班邀请名单")
    return render_template("trainings/new.html", choices=choices, errors=errors, body=body,
                           today=today().isoformat()), (422 if errors else 200)


@bp.get("/<int:training_id>")
def show(training_id: int) -> Any:
    course = committee.training_detail(current_user, training_id)
    audited("list_cases", subjects=audit.people_in(course["invitees"]),
            detail=f"培训班 {training_id}")
    return render_template("trainings/show.html", course=course,
                           ended=course["end_on"] <= today().isoformat())


@bp.post("/<int:training_id>/attendance")
def attendance(training_id: int) -> Any:
    """Record one invitee's attendance: a `training_attended` step dated the course's last day."""
    case_id = request.form.get("case_id", "")
    body = {"case_id": int(case_id) if case_id.isdigit() else None,
            "attended": {"y": True, "n": False}.get(request.form.get("attended", "")),
            "acknowledge": request.form.get("acknowledge") == "y",
            "reason": request.form.get("reason") or None}
    invited = {i["case_id"]: i["name"]
               for i in committee.training_detail(current_user, training_id)["invitees"]}
    who = invited.get(body["case_id"], _("不在名单中的人"))  # the person, never a case number
    try:
        committee.record_attendance(current_user, training_id, body)
    except ProcedureViolation as exc:
        rules = "; ".join(violation_text(v) for v in exc.extra["violations"])
        flash(_("%(name)s：%(rules)s（如确需记录，请勾选确认并填写原因）", name=who, rules=rules),
              "error")
    except (Invalid, Conflict) as exc:
        flash(f"{who}：{error_text(exc, with_fields=True)}", "error")
    else:
        flash(_("已记录%(name)s的出勤", name=who), "info")
    return redirect(url_for("trainings.show", training_id=training_id))


@bp.post("/<int:training_id>/attendance/change")
def change_attendance(training_id: int) -> Any:
    """Change a recorded attendance: a correction with its reason, the first record kept."""
    case_id = request.form.get("case_id", "")
    body = {"case_id": int(case_id) if case_id.isdigit() else None,
            "attended": {"y": True, "n": False}.get(request.form.get("attended", "")),
            "reason": request.form.get("reason", "")}
    invited = {i["case_id"]: i["name"]
               for i in committee.training_detail(current_user, training_id)["invitees"]}
    who = invited.get(body["case_id"], _("不在名单中的人"))
    try:
        committee.change_attendance(current_user, training_id, body)
    except (Invalid, Conflict) as exc:
        flash(f"{who}：{error_text(exc, with_fields=True)}", "error")
    else:
        flash(_("已更正%(name)s的出勤（原记录保留在案件历史中）", name=who), "info")
    return redirect(url_for("trainings.show", training_id=training_id))
