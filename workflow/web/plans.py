"""Yearly development plan pages (issue 21): the committee's table of its branches' plans
against actual (set and adjust a plan from it), a plan's versions and measures (the branch
records its measures), the year-end report, and their Excel and PDF files.

Thin over services.plans, the same calls as POST /api/v1/plans, /adjustments and /measures, so
pages and API accept and refuse the same things: a form's value goes to the service as typed
(digits as a number) and the service names what is wrong; the page shows that in a message
and changes nothing. Who may do what is the service's too (a refusal is its 403/404 page).
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow import plans as core
from workflow.services import plans
from workflow.services.directory import audit
from workflow.services.errors import BadRequest, Conflict, Invalid, ServiceError
from workflow.services.clock import today
from workflow.services.plans import store
from workflow.services.reports import files as report_files
from workflow.steps import YEAR_MAX
from workflow.web.common import (REPORT_FORMATS, audited, error_text, refused_page,
                                 report_download, service_error_page, typed_year)

bp = Blueprint("plans", __name__)
bp.register_error_handler(ServiceError, service_error_page)
READERS = ("committee_organizer", "auditor", "branch_secretary")
_NUMBER = re.compile(r"[0-9]{1,6}")

# The form's words for the fields a refusal names (common.error_text says them in the page's
# language; the targets' names are in the catalogue by scripts/label_messages.py).
FIELD_NAMES = {"org": "党支部", "year": "年度", "quota": "计划发展人数", "targets": "结构指标",
               "reason": "调整原因", "text": "措施", "owner": "责任人", "due_on": "完成时限",
               **{f"targets.{k}": zh for k, (zh, _en) in core.TARGETS.items()}}


@bp.before_request
@login_required
def _readers_only() -> Any:
    """The committee's organisers and auditors, and the branch secretaries; an administrator
    keeps accounts and settings, not plans."""
    if current_user.role not in READERS:
        abort(403)
    return None


def _number(raw: str | None) -> Any:
    """A typed count as a number; anything else as typed, for the service to refuse by name."""
    text = (raw or "").strip()
    return int(text) if _NUMBER.fullmatch(text) else text


def _targets() -> dict[str, Any]:
    """The four optional target fields (`target_<name>`); a blank one is no target."""
    found = {}
    for name in core.TARGETS:
        raw = request.form.get(f"target_{name}", "")
        if raw.strip():
            found[name] = _number(raw)
    return found


def _reason(exc: Invalid | Conflict) -> str:
    """The service's refusal with the fields it names, in the page's language."""
    return _("%(message)s，未作任何修改",
             message=error_text(exc, with_fields=True, labels=FIELD_NAMES))


def _refused(exc: Invalid | Conflict, form: str) -> Any:
    """A refused form: the page it was sent from again, with the reason, what was typed (the
    template's `typed`, for the form named `form`: `create-<org>`, `adjust-<plan>` or
    `measure-<plan>`) and the refusal's status, so nothing typed is lost."""
    typed = {"form": form, **request.form.to_dict(), "refusal": _reason(exc),
             "targets": {name: request.form.get(f"target_{name}", "") for name in core.TARGETS}}
    plan_id = request.view_args.get("plan_id") if request.view_args else None
    if plan_id is not None and request.form.get("back") == "plan":
        return refused_page(lambda kept: _plan_page(plan_id, kept), typed), exc.status
    year: Any = None
    if plan_id is not None:
        year = store.visible_plan(current_user, plan_id).year
    elif _NUMBER.fullmatch(request.form.get("year", "")):
        year = request.form["year"]
    scope = request.form.get("scope") or None

    def table(kept: dict[str, Any]) -> str:
        try:
            return _table_page(scope, year, kept)
        except BadRequest:  # a year out of range: this year's table, what was typed kept
            return _table_page(scope, None, kept)
    return refused_page(table, typed), exc.status


def _table_args(year: Any) -> dict[str, Any]:
    """The table's own query (its year, and the organisation asked for) to return to."""
    args = {"year": year}
    if request.form.get("scope"):
        args["org"] = request.form["scope"]
    return args


def _back(plan_id: int, year: Any) -> Any:
    if request.form.get("back") == "plan":
        return redirect(url_for("plans.show", plan_id=plan_id))
    return redirect(url_for("plans.index", **_table_args(year)))


def _table(org: str | None = None, year: Any = None) -> dict[str, Any]:
    table = plans.overview(current_user, org, year)
    table["total"]["gap"] = sum(r["gap"] or 0 for r in table["rows"])
    return table


@bp.get("/plans")
def index() -> Any:
    year = typed_year(request.args.get("year") or None, store.PLAN_YEAR_MIN, YEAR_MAX,
                      today().year)  # a typo in the year box: this year's table, and why
    return _table_page(request.args.get("org") or None, year)


def _table_page(org: str | None, year: Any, typed: dict[str, Any] | None = None) -> str:
    table = _table(org, year)
    own = None
    if current_user.role == "branch_secretary":
        # the branch's own plan in full: versions, measures, the form to add one
        own = next((r["plan"] for r in table["rows"] if r["org"] == current_user.org.code),
                   None)
    return render_template("plans/index.html", table=table, own=own, scope=org or "",
                           organiser=current_user.role == "committee_organizer",
                           typed=typed or {})


@bp.get("/plans/<int:plan_id>")
def show(plan_id: int) -> Any:
    return _plan_page(plan_id)


def _plan_page(plan_id: int, typed: dict[str, Any] | None = None) -> str:
    plan = store.view(store.visible_plan(current_user, plan_id))
    return render_template("plans/show.html", plan=plan, targets=_target_list(),
                           organiser=current_user.role == "committee_organizer",
                           typed=typed or {})


def _target_list() -> list[dict[str, str]]:
    return [{"id": k, "label": zh, "label_en": en} for k, (zh, en) in core.TARGETS.items()]


@bp.post("/plans/new")
def create() -> Any:
    year = _number(request.form.get("year"))
    body = {"org": request.form.get("org", ""), "year": year,
            "quota": _number(request.form.get("quota")), "targets": _targets()}
    try:
        made = plans.create(current_user, body)
    except (Invalid, Conflict) as exc:
        return _refused(exc, f"create-{body['org']}")
    flash(_("已下达%(org)s %(year)s 年度发展计划：%(n)d 名", org=made["org_name"],
            year=made["year"], n=made["quota"]), "info")
    return redirect(url_for("plans.index", **_table_args(made["year"])))


@bp.post("/plans/<int:plan_id>/adjust")
def adjust(plan_id: int) -> Any:
    version = _number(request.form.get("version"))
    body = {"quota": _number(request.form.get("quota")), "targets": _targets(),
            "reason": request.form.get("reason", ""),
            "version": version if isinstance(version, int) else None}
    try:
        made = plans.adjust(current_user, plan_id, body)
    except (Invalid, Conflict) as exc:
        return _refused(exc, f"adjust-{plan_id}")
    flash(_("已调整%(org)s %(year)s 年度发展计划为第 %(v)d 版：%(n)d 名", org=made["org_name"],
            year=made["year"], v=made["version"], n=made["quota"]), "info")
    return _back(plan_id, made["year"])


@bp.post("/plans/<int:plan_id>/measures")
def add_measure(plan_id: int) -> Any:
    body = {"text": request.form.get("text", ""), "owner": request.form.get("owner", ""),
            "due_on": request.form.get("due_on") or None}
    try:
        made = plans.add_measure(current_user, plan_id, body)
    except (Invalid, Conflict) as exc:
        return _refused(exc, f"measure-{plan_id}")
    flash(_("已添加落实措施"), "info")
    return _back(plan_id, made["year"])


# ---------------------------------------------------------------- the year-end report, files

def _year_end() -> dict[str, Any]:
    data = plans.year_end(current_user, request.args.get("org") or None,
                          request.args.get("year") or None)
    data["total"]["gap"] = sum(r["gap"] or 0 for r in data["rows"])
    data["total"]["targets"] = {k: sum((r["plan"] or {}).get("targets", {}).get(k, 0)
                                       for r in data["rows"]) for k in core.TARGETS}
    data["total"]["targets_actual"] = {k: sum(r["targets_actual"][k] for r in data["rows"])
                                       for k in core.TARGETS}
    data["structure_titles"] = plans.STRUCTURE_TITLES
    return data


@bp.get("/plans/year-end")
def year_end() -> Any:
    return render_template("plans/year_end.html", data=_year_end())


@bp.get("/plans.xlsx")
def table_file() -> Any:
    table = _table(request.args.get("org") or None, request.args.get("year") or None)
    audited("export_report", subjects=audit.people_in(
        [o for r in table["rows"] for o in r["over_plan"]]),
        detail=f"发展计划 {table['org']} {table['year']}.xlsx")
    return report_download(report_files.plans_report(table), "xlsx",
                           f"plans-{table['org']}-{table['year']}")


@bp.get("/plans/year-end.<fmt>")
def year_end_file(fmt: str) -> Any:
    if fmt not in REPORT_FORMATS:
        abort(404)
    data = _year_end()
    # the structure counts are of the year's new members: the people the file describes
    audited("export_report", subjects=data["structure"]["total"],
            detail=f"发展计划年终报告 {data['org']} {data['year']}.{fmt}")
    return report_download(report_files.year_end_report(data), fmt,
                           f"plans-year-end-{data['org']}-{data['year']}")
