"""Committee pages: the pre-review queue with (batch) sign-off, approvals due, overdue items."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow.services import cases, committee
from workflow.services.cases import decisions, exemptions
from workflow.services.clock import today
from workflow.services.errors import ProcedureViolation, ServiceError
from workflow.services.reports import worklist
from workflow.steps import DATE_PROBLEM, LONG_TEXT_MAX, parse_date
from workflow.web import auth
from workflow.web.common import audited, error_text, tr, violation_text
from workflow.web.forms import decider_value

bp = Blueprint("committee", __name__, url_prefix="/committee")
bp.before_request(login_required(lambda: None))

APPROVALS = ("approval_due", "conversion_approval_due")


@bp.get("/")
def home() -> Any:
    return _home()


def _home(kept: dict[str, Any] | None = None, status: int = 200) -> Any:
    """The workbench; `kept`: a refused pre-review form's values, shown again as typed."""
    work = worklist.worklist(current_user, today())
    queue = committee.pre_reviews(current_user, "pending")["items"]
    approvals = committee.approvals(current_user)["items"]
    # probationary periods about to run over: the conversion vote due within the due window
    # (30 days) or already late, the miss the committee is assessed on most (转正超期)
    conversions = [u for u in work["urgent"] if u["kind"] == "conversion_vote_due"]
    overdue = [u for u in work["urgent"] if u["status"] == "overdue"
               and u["kind"] not in (*APPROVALS, "conversion_vote_due")]
    deciders = None
    if current_user.role == "committee_organizer" and decisions.must_name(current_user,
                                                                          auth.origin()):
        deciders = decisions.choices(current_user)
    named = {c["id"] for c in queue} | {a["case_id"] for a in approvals} | \
        {d["case"]["id"] for d in overdue + conversions}
    audited("list_cases", subjects=len(named), detail="党委工作台")
    return render_template("committee/home.html", queue=queue, approvals=approvals,
                           overdue=overdue, conversions=conversions, work=work, today=today(),
                           exemptions=exemptions.listing(current_user), deciders=deciders,
                           kept=kept or {}), status


@bp.post("/pre-reviews")
def sign_off() -> Any:
    """Approve or return one or several pending pre-reviews with one set of comments. A form
    refused before anything was recorded comes back as typed (the cases ticked, the comments);
    once some case is recorded the page is reloaded, so a reload never records it twice."""
    ids = [int(i) for i in request.form.getlist("case_id")
           if i.isascii() and i.isdigit() and len(i) < 10]
    decision = request.form.get("decision")
    day = parse_date(request.form.get("occurred_on"))
    comments, reason = request.form.get("comments", ""), request.form.get("reason", "")
    kept = {"ids": set(ids), "decision": decision, "occurred_on": request.form.get("occurred_on"),
            "comments": comments, "reason": reason,
            "acknowledge": request.form.get("acknowledge") == "y"}
    problem = None
    if not ids:
        problem = _("请选择要预审的案件")
    elif decision not in ("approved", "returned"):
        problem = _("请选择预审意见：同意或退回")
    elif day is None:
        problem = _("预审日期不正确：%(why)s", why=tr(DATE_PROBLEM))  # the bounds said once
    elif len(comments.strip()) > LONG_TEXT_MAX or len(reason.strip()) > LONG_TEXT_MAX:
        problem = _("意见和原因说明均不能超过 %(n)d 个字", n=LONG_TEXT_MAX)
    if problem:
        flash(problem, "error")
        return _home(kept, 422)
    origin = auth.origin()
    decided_by = decider_value(request.form.get("decided_by"))
    if decided_by is None and decisions.must_name(current_user, origin):
        flash(_("请选择决定人：多人共用或未关联花名册成员的账号签署预审意见时，必须注明由谁决定"),
              "error")
        return _home(kept, 422)
    done, problems = 0, []
    for case_id in ids:
        data = {"decision": decision, "comments": comments.strip() or
                ("同意" if decision == "approved" else "退回补充材料")}
        try:
            cases.record_step(current_user, case_id, "pre_review_decided", day.isoformat(), data,
                              acknowledge=request.form.get("acknowledge") == "y",
                              reason=request.form.get("reason"), decided_by=decided_by,
                              origin=origin)
            done += 1
        except ProcedureViolation as exc:
            rules = "; ".join(violation_text(v) for v in exc.extra["violations"])
            problems.append(_("案件 %(id)s：%(rules)s（如确需记录，请勾选确认并填写原因）",
                              id=case_id, rules=rules))
        except ServiceError as exc:
            problems.append(_("案件 %(id)s：%(why)s", id=case_id, why=error_text(exc)))
    if done:
        flash(_("已完成 %(n)s 件预审", n=done), "info")
    for p in problems:
        flash(p, "error")
    if problems and not done:
        return _home(kept, 422)
    return redirect(url_for("committee.home"))
