"""Score and statistics pages, and the report files they offer for download.

A branch's rubric with every deduction explained (link to the step, what would fix it); the
committee's table of all its branches (sortable, with the years before); the annual
development statistics. Each page's numbers come from the same service call as its Excel and
PDF file, and the rubric's from the same scoring as GET /api/v1/rubric, so they never disagree.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from workflow.services import reports
from workflow.services.clock import as_of
from workflow.services.directory import audit
from workflow.services.errors import ServiceError
from workflow.services.reports import files as report_files
from workflow.services.reports import statistics
from workflow.steps import DOCUMENT_LABELS, YEAR_MAX, YEAR_MIN
from workflow.web import trainings
from workflow.web.common import (
    audited,
    check_format,
    locale,
    report_download,
    service_error_page,
    tr,
    typed_year,
)

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(login_required(lambda: None))
bp.register_error_handler(ServiceError, service_error_page)
trainings_bp = trainings.bp  # registered beside this blueprint by workflow.web.register


def _as_of() -> date:
    return as_of(request.args.get("as_of") or None)


def _year(as_of: date, page: bool = False) -> str:
    """The year asked for; on a page a year that is not one (a typo: "20266") is said next to
    the page in its language and the year of `as_of` shown instead of an error page (a file's
    download still refuses it, 400)."""
    typed = request.args.get("year") or None
    if page:
        typed = typed_year(typed, YEAR_MIN, YEAR_MAX, as_of.year)
    return typed or str(as_of.year)


@bp.get("/rubric")
def rubric() -> Any:
    as_of = _as_of()
    year = _year(as_of, page=True)
    branches = reports.branches_in(current_user.org)
    code = request.args.get("org") or (branches[0].code if branches else "")
    result = reports.branch_report(current_user, code, year, as_of) if code else None
    if result is not None:
        audited("view_report", subjects=_named(result), detail=f"考核得分 {code} {year}")
        _in_page_language([d for i in result["items"].values() for d in i["deductions"]]
                          + result["committee"])
    return render_template("reports/rubric.html", result=result, branches=branches, code=code,
                           year=year, as_of=as_of.isoformat())


@bp.get("/rubric.<fmt>")
def rubric_file(fmt: str) -> Any:
    as_of = _as_of()
    result = reports.branch_report(current_user, request.args.get("org") or current_user.org.code,
                                   _year(as_of), as_of)
    check_format(fmt)
    audited("export_report", subjects=_named(result),
            detail=f"考核扣分明细 {result['org']} {result['year']}.{fmt}")
    return report_download(report_files.branch_report(result), fmt,
                           f"rubric-{result['org']}-{result['year']}")


def _named(result: dict[str, Any]) -> int:
    """How many people a rubric names (deductions are per case)."""
    return audit.people_in([d for i in result["items"].values() for d in i["deductions"]]
                           + result["committee"])


def _in_page_language(deductions: list[dict[str, Any]]) -> None:
    """On a page in English, the deductions' English texts in place of the Chinese ones the
    API and the report files keep (the missing papers named from the label catalogue)."""
    if locale() != "en":
        return
    for d in deductions:
        documents = ", ".join(tr(DOCUMENT_LABELS.get(t, t)) for t in d.get("documents", ()))
        d["message"] = d["message_en"] + (f": {documents}" if documents else "")
        d["fix"] = d["fix_en"] + (f": {documents}" if documents else "")
        d["kind_label"] = tr(d["kind_label"])
        d["rule_label"] = reports.rule_label(d["rule"], "en")


def _table(as_of: date, page: bool = False) -> dict[str, Any]:
    return reports.committee_table(current_user, request.args.get("org"), _year(as_of, page),
                                   as_of, request.args.get("sort", "org"),
                                   request.args.get("dir", "asc"))


@bp.get("/committee")
def committee() -> Any:
    as_of = _as_of()
    table = _table(as_of, page=True)
    audited("view_report", subjects=audit.people_in(table["committee"]),
            detail=f"考核汇总 {table['org']} {table['year']}")
    _in_page_language(table["committee"])
    return render_template("reports/committee.html", table=table, as_of=as_of.isoformat())


@bp.get("/committee.<fmt>")
def committee_file(fmt: str) -> Any:
    table = _table(_as_of())
    check_format(fmt)
    audited("export_report", subjects=audit.people_in(table["committee"]),
            detail=f"考核汇总 {table['org']} {table['year']}.{fmt}")
    return report_download(report_files.committee_report(table), fmt,
                           f"rubric-{table['org']}-{table['year']}")


def _stats(as_of: date, page: bool = False) -> dict[str, Any]:
    return statistics.annual(current_user, request.args.get("org"), _year(as_of, page), as_of)


@bp.get("/statistics")
def statistics_page() -> Any:
    as_of = _as_of()
    return render_template("reports/statistics.html", stats=_stats(as_of, page=True),
                           as_of=as_of.isoformat())


@bp.get("/statistics.<fmt>")
def statistics_file(fmt: str) -> Any:
    stats = _stats(_as_of())
    return report_download(report_files.statistics_report(stats), fmt,
                           f"statistics-{stats['org']}-{stats['year']}")
