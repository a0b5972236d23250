"""The OpenAPI 3 description of /api/v1, kept next to the routes (a test checks they match)."""
from __future__ import annotations

from typing import Any

from workflow.services.directory.audit import Action
from workflow.steps import STEPS

DATE = {"type": "string", "format": "date"}
ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "error", "content": {"application/json": {"schema": ERROR}}}
            for c in codes}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}, "required": True}


def _ok(status: int = 200, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {str(status): {"description": "ok", "content": {
        "application/json": {"schema": schema or {"type": "object"}}}}}


def _param(name: str, where: str = "query", schema: dict[str, Any] | None = None,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema or {"type": "string"}}


CASE_ID = _param("id", "path", {"type": "integer"})
AUTH = [{"bearer": []}]

STEP_BODY = {
    "type": "object", "required": ["step", "occurred_on"],
    "properties": {
        "step": {"type": "string", "enum": sorted(STEPS)}, "occurred_on": DATE,
        "data": {"type": "object"}, "note": {"type": "string"}, "version": {"type": "integer"},
        "acknowledge": {"type": "boolean"}, "reason": {"type": "string"},
        "decided_by": {"type": "integer", "minimum": 1, "description":
                       "a committee decision (pre_review_decided, admission_approved, "
                       "conversion_approved, or a correction of one): the roster member who "
                       "decided; required with an API token (422 invalid, fields.decided_by)"},
    },
}
STEP_RECORD = {
    "type": "object", "properties": {
        "id": {"type": "integer"}, "step": {"type": "string"}, "occurred_on": DATE,
        "data": {"type": "object"}, "recorded_at": {"type": "string"},
        "recorded_by": {"type": "string", "nullable": True},
        "decided_by": {"type": "object", "nullable": True, "description":
                       "committee decisions: who decided",
                       "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                      "org": {"type": "string"}}},
        "session_ref": {"type": "string", "nullable": True, "description":
                        "committee decisions: web:<session id> | api:token:<token id> | cli | "
                        "import"},
    },
}
STEP_RESULT = {"type": "object", "properties": {
    "step": {"$ref": "#/components/schemas/StepRecord"}, "violations": {"type": "array"},
    "case": {"type": "object"}}}


AUDIT_ACTIONS = [a.value for a in Action]
AUDIT_ENTRIES = {"type": "object", "properties": {
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "description": "UTC, ISO 8601"},
        "at_local": {"type": "string", "description": "Beijing time"},
        "user": {"type": "string", "nullable": True, "description": "username; null: the CLI"},
        "user_name": {"type": "string", "nullable": True},
        "org": {"type": "string", "nullable": True, "description": "the account's organisation"},
        "action": {"type": "string", "enum": AUDIT_ACTIONS}, "action_label": {"type": "string"},
        "case_id": {"type": "integer", "nullable": True},
        "subjects": {"type": "integer", "description": "how many people's data it covered"},
        "channel": {"type": "string", "enum": ["web", "api", "cli"]},
        "remote": {"type": "string", "nullable": True},
        "detail": {"type": "string", "nullable": True}}}},
    "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}}


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/health": {"get": {"security": [], "responses": _ok()}},
        "/api/v1/orgs/{code}/roster": {
            "parameters": [_param("code", "path")],
            "post": {"requestBody": _json({"type": "object", "required": ["name", "status", "since"],
                                           "properties": {"name": {"type": "string"},
                                                          "status": {"enum": ["full", "probationary"]},
                                                          "since": DATE}}),
                     "responses": {**_ok(201), **_errors(400, 401, 403, 404, 422)}},
            "get": {"responses": {**_ok(), **_errors(401, 404)}}},
        "/api/v1/cases": {
            "post": {"requestBody": _json({"type": "object",
                                           "required": ["branch", "person", "application_date"],
                                           "properties": {"branch": {"type": "string"},
                                                          "person": {"type": "object"},
                                                          "application_date": DATE}}),
                     "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}},
            "get": {"parameters": [_param("branch"), _param("stage"), _param("q"),
                                   _param("page", schema={"type": "integer"}),
                                   _param("per_page", schema={"type": "integer"})],
                    "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/cases/{id}": {"parameters": [CASE_ID], "get": {
            "parameters": [_param("as_of", schema=DATE)],
            "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/cases/{id}/steps": {"parameters": [CASE_ID], "post": {
            "requestBody": _json(STEP_BODY),
            "responses": {**_ok(201, STEP_RESULT), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/cases/{id}/documents": {"parameters": [CASE_ID], "post": {
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "doc_type": {"type": "string"}, "step_record_id": {"type": "integer"},
                    "on_file": {"type": "boolean"}, "reference": {"type": "string"}}}},
                "multipart/form-data": {"schema": {"type": "object", "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "doc_type": {"type": "string"}, "step_record_id": {"type": "integer"}}}}}},
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 413, 422)}}},
        "/api/v1/pre-reviews": {"get": {
            "parameters": [_param("status", schema={"enum": ["pending", "decided"]})],
            "responses": {**_ok(), **_errors(400, 401)}}},
        "/api/v1/approvals": {"get": {"responses": {**_ok(), **_errors(401)}}},
        "/api/v1/trainings": {"post": {
            "requestBody": _json({"type": "object", "required": ["title", "start_on", "end_on", "hours"],
                                  "properties": {"title": {"type": "string"}, "start_on": DATE,
                                                 "end_on": DATE, "hours": {"type": "number"},
                                                 "invitees": {"type": "array",
                                                              "items": {"type": "integer"}}}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 422)}}},
        "/api/v1/trainings/{id}/attendance": {"parameters": [CASE_ID], "post": {
            "requestBody": _json({"type": "object", "required": ["case_id", "attended"],
                                  "properties": {"case_id": {"type": "integer"},
                                                 "attended": {"type": "boolean"}}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/alerts": {"get": {"parameters": [_param("as_of", schema=DATE), _param("org")],
                                   "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/rubric": {"get": {"parameters": [_param("org"), _param("year", schema={"type": "integer"}),
                                                  _param("as_of", schema=DATE)],
                                   "responses": {**_ok(), **_errors(400, 401, 404, 422)}}},
        "/api/v1/export/events.xes": {"get": {"parameters": [_param("org")], "responses": {
            "200": {"description": "XES event log", "content": {"application/xml": {}}},
            **_errors(401, 404)}}},
        "/api/v1/audit": {"get": {
            "description": "Who viewed or exported personal data, newest first. Committee "
                           "organisers and auditors see accesses by accounts of their "
                           "organisation's subtree, the admin all; branch accounts get 403. "
                           "from/to are Beijing dates, inclusive.",
            "parameters": [_param("user"), _param("case_id", schema={"type": "integer"}),
                           _param("action", schema={"enum": AUDIT_ACTIONS}),
                           _param("from", schema=DATE), _param("to", schema=DATE),
                           _param("page", schema={"type": "integer"}),
                           _param("per_page", schema={"type": "integer"})],
            "responses": {**_ok(schema=AUDIT_ENTRIES), **_errors(400, 401, 403)}}},
        "/api/v1/openapi.json": {"get": {"security": [], "responses": _ok()}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "发展党员全程纪实 API", "version": "1"},
        "security": AUTH,
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"StepRecord": STEP_RECORD, "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object"}, "violations": {"type": "array"}}}}}},
        },
    }
