"""Records in and out: the Excel import (upload, preview, confirm), case-list and case-record
exports, printable forms, and the calendar feed with the page that shows its address.

The preview and the confirmation are two requests, so the uploaded file is kept between them
under the upload folder, named by the user and a random token (no table needed); confirming
reads that same file again and the service re-checks everything before it writes.
"""
from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from workflow.extensions import login_manager
from workflow.services.clock import today
from workflow.services.errors import BadRequest, ServiceError
from workflow.services.interchange import excel_export, excel_import, ical, printables, xes
from workflow.services.reports.files import XLSX
from workflow.states import STAGES
from workflow.web.common import audited, service_error_page

bp = Blueprint("transfer", __name__, url_prefix="/transfer")
bp.register_error_handler(ServiceError, service_error_page)
PUBLIC = {"transfer.calendar_feed"}  # the phone's calendar cannot log in: the secret authorises
TOKEN = re.compile(r"[0-9a-f]{32}")


@bp.before_request
def _login() -> Any:
    if request.endpoint not in PUBLIC and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _file(data: bytes, mimetype: str, name: str) -> Response:
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0)


@bp.get("/")
def index() -> Any:
    from workflow.services.reports import branches_in
    return render_template("transfer/index.html", branches=branches_in(current_user.org),
                           stages=[(m.STAGE, m.ZH) for m in STAGES])


@bp.get("/template.xlsx")
def template() -> Any:
    return _file(excel_import.template(), XLSX, "import-template.xlsx")


def _stash(data: bytes) -> str:
    token = secrets.token_hex(16)
    folder = Path(current_app.config["UPLOAD_DIR"]) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{current_user.id}-{token}.xlsx").write_bytes(data)
    return token


def _stashed(token: str) -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "imports" / f"{current_user.id}-{token}.xlsx"
    if not TOKEN.fullmatch(token) or not path.is_file():
        raise BadRequest("导入文件已失效，请重新上传")
    return path


@bp.post("/import")
def upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的 Excel 文件"), "error")
        return redirect(url_for("transfer.index"))
    data = upload.read()
    branch = _branch()
    report = excel_import.preview(current_user, data, branch)
    c = report["counts"]
    audited("import_preview", subjects=len(report["rows"]),
            detail=f"{upload.filename}：新 {c['new']}，已有 {c['existing']}，拒绝 {c['refused']}")
    token = _stash(data) if report["ok"] else ""
    return render_template("transfer/preview.html", report=report, token=token,
                           filename=upload.filename, branch=branch or "")


def _branch() -> str | None:
    """The branch a committee organiser imports for (a secretary imports her own)."""
    code = request.form.get("branch", "").strip()
    return code[:40] or None


@bp.post("/import/confirm")
def confirm() -> Any:
    path = _stashed(request.form.get("token", ""))
    try:
        report = excel_import.confirm(current_user, path.read_bytes(), _branch())
    except excel_import.ImportRefused as exc:
        return render_template("transfer/preview.html", report=exc.report, token="",
                               filename="", branch=""), 422
    path.unlink(missing_ok=True)
    c = report["counts"]
    flash(_("已导入 %(new)s 人（%(steps)s 个步骤）；已在系统中跳过 %(existing)s 人", new=c["new"],
            steps=report["steps"], existing=c["existing"]), "info")
    return redirect(url_for("cases.home"))


@bp.get("/cases.xlsx")
def cases_file() -> Any:
    args = {k: request.args.get(k) or None for k in ("branch", "stage", "q")}
    # that the list was searched, never the search text: a search term is (part of) a name
    detail = " ".join(f"{k}={'(已检索)' if k == 'q' else v}" for k, v in args.items() if v) or None
    if request.args.get("format") == "import":
        data = excel_export.export_import_format(current_user, **args)
        audited("export_import_format",
                subjects=len(excel_export.scoped_cases(current_user, **args)), detail=detail)
        return _file(data, XLSX, "cases-import-format.xlsx")
    data = excel_export.export_list(current_user, **args)
    audited("export_case_list", subjects=len(excel_export.scoped_cases(current_user, **args)),
            detail=detail)
    return _file(data, XLSX, "cases.xlsx")


@bp.get("/events.xes")
def events_file() -> Any:
    """The event log (XES) for process mining, from the pages as from the API."""
    org = request.args.get("branch") or None
    data = xes.events_xes(current_user, org)
    audited("export_events_xes", subjects=data.count(b"<trace>"),
            detail=f"org={org}" if org else None)
    return _file(data, "application/xml", "events.xes")


def case_file(case_id: int, form: str, fmt: str) -> Any:
    options = {"kind": request.args.get("kind", "admission")} if form == "tally" else {}
    data, mimetype = printables.render(current_user, case_id, form, fmt, **options)
    audited("export_case_record" if form == "record" else "print_document", case_id=case_id,
            detail=f"{printables.FORM_TITLES.get(form, form)} {form}.{fmt}")
    return _file(data, mimetype, f"{form}-{case_id}.{fmt}")


for _form in printables.FORMS:  # one rule per form: url_for(..., form=...) picks it
    bp.add_url_rule(f"/cases/<int:case_id>/{_form}.<fmt>", "case_file", case_file,
                    defaults={"form": _form})


@bp.get("/calendar")
def calendar_page() -> Any:
    url = url_for("transfer.calendar_feed", code=ical.feed_code(current_user.id),
                  _external=True)
    return render_template("transfer/calendar.html", url=url,
                           webcal=re.sub(r"^https?://", "webcal://", url))


@bp.get("/ical/<code>.ics")
def calendar_feed(code: str) -> Any:
    """`code` is the user's id and feed secret (see ical.feed_code): no login, no session."""
    try:
        user = ical.feed_user(code)
    except ServiceError:
        abort(404)
    body = ical.calendar(user, today(), request.url_root)
    audited("export_calendar", actor=user, subjects=ical.people_in(body), detail="日历订阅")
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": "inline; filename=deadlines.ics",
                             "Cache-Control": "private, max-age=900"})
