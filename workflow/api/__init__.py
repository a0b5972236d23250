"""The JSON API (/api/v1): parse, call one service, map domain errors to the one error shape."""
from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from workflow.api.body import json_body, json_object
from workflow.persistence.db import db
from workflow.persistence.models import User
from workflow.services import cases, committee, directory, plans, reports
from workflow.services.cases import decisions, documents
from workflow.services.clock import as_of
from workflow.services.directory import audit
from workflow.services.errors import BadRequest, Invalid, ServiceError, Unauthenticated
from workflow.steps import MAX_INT

api = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


@api.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> tuple[Response, int]:
    db.session.rollback()
    return jsonify({"error": exc.payload()}), exc.status


@api.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
    db.session.rollback()
    return error_response(413, "too_large", "上传内容超过大小限制")


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    db.session.rollback()
    codes = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
             405: "method_not_allowed", 409: "conflict", 413: "too_large"}
    status = exc.code or 500
    return error_response(status, codes.get(status, "error"), exc.description or exc.name)


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[Response, int]:
    db.session.rollback()
    import logging
    logging.getLogger(__name__).exception("unhandled API error")
    return error_response(500, "server_error", "服务器内部错误，请稍后重试")


@api.before_request
def _no_nul_in_query() -> None:
    """PostgreSQL text cannot hold NUL: a query parameter or form field with one is a bad
    request, not a database error (the fuzz test sends `?org=%00`). A JSON body is read here
    too, strictly (api.body: size, nesting, NaN/Infinity, NUL and lone surrogates refused,
    naming where), so that no service meets what it cannot store."""
    for where, values in (("查询参数", request.args), ("表单字段", request.form)):
        bad = next((k for k, v in values.items(multi=True)
                    if "\x00" in (v or "") or "\x00" in (k or "")), None)
        if bad is not None:
            raise BadRequest(f"{where}不能包含 NUL 字符", fields={bad: "包含 NUL 字符"})
    json_body()


def authenticated(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        row = directory.token_for(token.strip()) if scheme.lower() == "bearer" else None
        if row is None:
            raise Unauthenticated("需要有效的 API 令牌（Authorization: Bearer <token>）")
        g.actor = row.user
        g.origin = decisions.Origin.api_token(row.id)  # the session a decision came from
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def actor() -> User:
    return g.actor  # type: ignore[no-any-return]


def body(allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON object of the request; with `allowed`, other keys are refused (422)."""
    return json_object(allowed)


def _as_of() -> date:
    return as_of(request.args.get("as_of"))


def audited(action: str, *, case_id: int | None = None, subjects: int = 1,
            detail: str | None = None) -> None:
    """Log that this request disclosed personal data (services.directory.audit), before answering;
    a failure to log fails the request (500 in the one error shape)."""
    audit.record(actor(), action, case_id=case_id, subjects=subjects, channel="api",
                 remote=request.remote_addr, detail=detail)


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} 必须是整数") from None


@api.get("/health")
def health() -> Any:
    return {"status": "ok"}


@api.post("/orgs/<code>/roster")
@authenticated
def roster_add(code: str) -> Any:
    return directory.add_roster_member(actor(), code, body()), 201


@api.get("/orgs/<code>/roster")
@authenticated
def roster_list(code: str) -> Any:
    roster = directory.list_roster(actor(), code)
    audited("view_roster", subjects=len(roster["items"]), detail=f"花名册 {code}")
    return roster


@api.post("/cases")
@authenticated
def case_open() -> Any:
    b = body(("branch", "person", "application_date", "acknowledge", "reason"))
    return cases.open_case(actor(), b.get("branch"), b.get("person"), b.get("application_date"),
                           b.get("acknowledge") is True, b.get("reason")), 201


@api.get("/cases")
@authenticated
def case_list() -> Any:
    found = cases.list_cases(actor(), request.args.get("branch"), request.args.get("stage"),
                             request.args.get("q"), _int_arg("page", 1), _int_arg("per_page", 20),
                             overdue=_flag("overdue"), waiting_for_me=_flag("waiting"))
    audited("list_cases", subjects=len(found["items"]),
            # that a search was made, never its text: a search term is (part of) a name
            detail=" ".join(f"{k}={'(已检索)' if k == 'q' else request.args[k]}"
                            for k in ("branch", "stage", "q", "overdue", "waiting", "page")
                            if request.args.get(k)) or None)
    return found


def _flag(name: str) -> bool:
    """A yes/no query parameter: true/1 or false/0 (absent: false)."""
    raw = request.args.get(name)
    if raw is None or raw in ("false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise BadRequest(f"{name} 必须是 true 或 false", fields={name: "必须是 true 或 false"})


@api.get("/cases/<int:case_id>")
@authenticated
def case_get(case_id: int) -> Any:
    case = cases.get_case(actor(), case_id, _as_of())
    audited("view_case", case_id=case_id)
    return case


@api.post("/cases/<int:case_id>/steps")
@authenticated
def case_step(case_id: int) -> Any:
    b = body(("step", "occurred_on", "data", "note", "version", "acknowledge", "reason",
              "decided_by"))
    version = b.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                or not 0 <= version <= MAX_INT):
        raise BadRequest(f"version 必须是 0 到 {MAX_INT} 之间的整数",
                         fields={"version": f"必须是 0 到 {MAX_INT} 之间的整数"})
    for key, kind in (("acknowledge", bool), ("note", str), ("reason", str)):
        if b.get(key) is not None and not isinstance(b[key], kind):
            raise BadRequest(f"{key} 类型不正确", fields={key: "类型不正确"})
    return cases.record_step(actor(), case_id, b.get("step"), b.get("occurred_on"),
                             b.get("data", {}), b.get("note"), version,
                             b.get("acknowledge") is True, b.get("reason"),
                             decided_by=b.get("decided_by"), origin=g.origin), 201


@api.post("/cases/<int:case_id>/documents")
@authenticated
def case_document(case_id: int) -> Any:
    if request.files:
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("缺少 file", fields={"file": "必填"})
        unknown = sorted((set(request.form) | set(request.files))
                         - {"file", "doc_type", "step_record_id"})
        if unknown:
            raise Invalid("请求中有未知字段", {k: "未知字段" for k in unknown})
        return documents.upload(actor(), case_id, request.form.get("step_record_id"),
                                request.form.get("doc_type"), upload.filename or "",
                                upload.stream, upload.mimetype), 201
    return documents.mark_on_file(actor(), case_id, body()), 201


@api.get("/cases/<int:case_id>/documents/<int:document_id>")
@authenticated
def case_document_file(case_id: int, document_id: int) -> Any:
    """An uploaded file, always as a download (attachment, nosniff), logged as an access."""
    doc, path, media_type = documents.stored_file(actor(), case_id, document_id)
    audited("download_document", case_id=case_id, detail=f"材料 #{doc.id}")
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=media_type,
                         as_attachment=True, download_name=doc.filename or path.name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@api.get("/pre-reviews")
@authenticated
def pre_review_queue() -> Any:
    status = request.args.get("status", "pending")
    queue = committee.pre_reviews(actor(), status)
    audited("list_cases", subjects=len(queue["items"]), detail=f"预审 {status}")
    return queue


@api.get("/approvals")
@authenticated
def approval_queue() -> Any:
    queue = committee.approvals(actor())
    audited("list_cases", subjects=len(queue["items"]), detail="待审批")
    return queue


@api.post("/trainings")
@authenticated
def training_create() -> Any:
    return committee.create_training(actor(), body()), 201


@api.post("/trainings/<int:training_id>/attendance")
@authenticated
def training_attendance(training_id: int) -> Any:
    return committee.record_attendance(actor(), training_id, body()), 201


@api.post("/trainings/<int:training_id>/attendance/corrections")
@authenticated
def training_attendance_change(training_id: int) -> Any:
    """Change a recorded attendance: a correction with its reason (the first record kept)."""
    return committee.change_attendance(actor(), training_id, body()), 201


@api.get("/alerts")
@authenticated
def alert_list() -> Any:
    return reports.alert_list(actor(), _as_of(), request.args.get("org"))


@api.get("/rubric")
@authenticated
def rubric() -> Any:
    org = request.args.get("org") or actor().org.code
    return reports.branch_rubric(actor(), org, request.args.get("year", _as_of().year), _as_of())


@api.post("/plans")
@authenticated
def plan_create() -> Any:
    """The committee sets a branch's yearly development plan (version 1)."""
    return plans.create(actor(), body(plans.PLAN_FIELDS)), 201


@api.post("/plans/<int:plan_id>/adjustments")
@authenticated
def plan_adjust(plan_id: int) -> Any:
    """A new version of the plan, with its reason; the old versions stay."""
    return plans.adjust(actor(), plan_id, body(plans.ADJUST_FIELDS)), 201


@api.post("/plans/<int:plan_id>/measures")
@authenticated
def plan_measure(plan_id: int) -> Any:
    return plans.add_measure(actor(), plan_id, body(plans.MEASURE_FIELDS)), 201


@api.get("/plans")
@authenticated
def plan_list() -> Any:
    """Plan against actual for a branch, or every branch of a committee, for a year."""
    return plans.overview(actor(), request.args.get("org"), request.args.get("year"))


@api.get("/openapi.json")
def openapi() -> Any:
    from workflow.api.openapi import document
    return document()


@api.get("/export/events.xes")
@authenticated
def events_xes() -> Any:
    from workflow.services.interchange.xes import events_xes as build
    org = request.args.get("org")
    body = build(actor(), org)
    audited("export_events_xes", subjects=body.count(b"<trace>"),
            detail=f"org={org}" if org else None)
    return Response(body, mimetype="application/xml")


@api.get("/audit")
@authenticated
def audit_log() -> Any:
    """Who viewed or exported personal data, newest first (committee organisers and auditors:
    their subtree's accounts; the admin: everything; branch accounts: 403)."""
    a = request.args
    return audit.entries(actor(), user=a.get("user"), case_id=a.get("case_id"),
                         action=a.get("action"), since=a.get("from"), until=a.get("to"),
                         page=_int_arg("page", 1), per_page=_int_arg("per_page", 50))
