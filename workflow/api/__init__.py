"""The JSON API (/api/v1): parse, call one service, map domain errors to the one error shape."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from workflow.persistence.db import db
from workflow.persistence.models import User
from workflow.services import cases, committee, directory, documents, reports
from workflow.services.clock import today
from workflow.services.errors import BadRequest, ServiceError, Unauthenticated
from workflow.steps import parse_date

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


def authenticated(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = directory.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Unauthenticated("需要有效的 API 令牌（Authorization: Bearer <token>）")
        g.actor = user
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def actor() -> User:
    return g.actor  # type: ignore[no-any-return]


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象（Content-Type: application/json）")
    return data


def _as_of() -> date:
    raw = request.args.get("as_of")
    if raw is None:
        return today()
    day = parse_date(raw)
    if day is None:
        raise BadRequest("as_of 必须是 YYYY-MM-DD 格式的日期")
    return day


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
    return directory.list_roster(actor(), code)


@api.post("/cases")
@authenticated
def case_open() -> Any:
    b = body()
    return cases.open_case(actor(), b.get("branch"), b.get("person"), b.get("application_date"),
                           b.get("acknowledge") is True, b.get("reason")), 201


@api.get("/cases")
@authenticated
def case_list() -> Any:
    return cases.list_cases(actor(), request.args.get("branch"), request.args.get("stage"),
                            request.args.get("q"), _int_arg("page", 1), _int_arg("per_page", 20))


@api.get("/cases/<int:case_id>")
@authenticated
def case_get(case_id: int) -> Any:
    return cases.get_case(actor(), case_id, _as_of())


@api.post("/cases/<int:case_id>/steps")
@authenticated
def case_step(case_id: int) -> Any:
    b = body()
    version = b.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise BadRequest("version 必须是整数")
    for key, kind in (("acknowledge", bool), ("note", str), ("reason", str)):
        if b.get(key) is not None and not isinstance(b[key], kind):
            raise BadRequest(f"{key} 类型不正确")
    return cases.record_step(actor(), case_id, b.get("step"), b.get("occurred_on"),
                             b.get("data", {}), b.get("note"), version,
                             b.get("acknowledge") is True, b.get("reason")), 201


@api.post("/cases/<int:case_id>/documents")
@authenticated
def case_document(case_id: int) -> Any:
    if request.files:
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("缺少 file")
        return documents.upload(actor(), case_id, request.form.get("step_record_id"),
                                request.form.get("doc_type"), upload.filename or "",
                                upload.stream, upload.mimetype), 201
    return documents.mark_on_file(actor(), case_id, body()), 201


@api.get("/pre-reviews")
@authenticated
def pre_review_queue() -> Any:
    return committee.pre_reviews(actor(), request.args.get("status", "pending"))


@api.post("/trainings")
@authenticated
def training_create() -> Any:
    return committee.create_training(actor(), body()), 201


@api.post("/trainings/<int:training_id>/attendance")
@authenticated
def training_attendance(training_id: int) -> Any:
    return committee.record_attendance(actor(), training_id, body()), 201


@api.get("/alerts")
@authenticated
def alert_list() -> Any:
    return reports.alert_list(actor(), _as_of(), request.args.get("org"))


@api.get("/rubric")
@authenticated
def rubric() -> Any:
    org = request.args.get("org") or actor().org.code
    return reports.branch_rubric(actor(), org, request.args.get("year", _as_of().year), _as_of())


@api.get("/openapi.json")
def openapi() -> Any:
    from workflow.api.openapi import document
    return document()


@api.get("/export/events.xes")
@authenticated
def events_xes() -> Any:
    from workflow.services.exports import events_xes as build
    return Response(build(actor(), request.args.get("org")), mimetype="application/xml")
