"""The OpenAPI 3 description of /api/v1, kept next to the routes (a test checks they match)."""
from __future__ import annotations

import json
from typing import Any

from workflow.api.body import MAX_DEPTH
from workflow.plans import QUOTA_MAX
from workflow.plans import TARGETS as PLAN_TARGETS
from workflow.services.cases.documents import KINDS
from workflow.services.clock import today
from workflow.services.committee.trainings import CHANGE_REASON_MAX, INVITEES_MAX, NUMBER_MAX
from workflow.services.directory.audit import Action
from workflow.services.directory.organisations import ROSTER_SINCE_MIN
from workflow.services.plans.store import PLAN_YEAR_MIN
from workflow.states import STAGE_IDS
from workflow.steps import (
    BIDI_RANGES,
    BLANK_RANGES,
    FILENAME_MAX,
    HOURS_MAX,
    LONG_TEXT_MAX,
    MAX_INT,
    NAME_MAX,
    PERSON_FIELDS,
    STEPS,
    TEXT_MAX,
    YEAR_MAX,
    YEAR_MIN,
    Field,
    FieldType,
    char_class,
)
from workflow.votes import COUNT_FIELDS, COUNT_MAX

# The limits the API enforces, said here so that a client (or a schema-driven fuzzer) that
# keeps to this description is never refused as invalid for the form of what it sent. What a
# description cannot say is in the descriptions: "not after today", the order of the steps,
# an ID number's check digit, a vote's arithmetic.
_MONTH_DAY = "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
DATE = {"type": "string", "format": "date",
        "pattern": f"^(19[0-9]{{2}}|20[0-9]{{2}}|{YEAR_MAX}){_MONTH_DAY}",
        "description": f"YYYY-MM-DD, {YEAR_MIN}–{YEAR_MAX}"}
assert YEAR_MIN == 1900 and YEAR_MAX == 2100  # the pattern spells them out
PAST_DATE = {**DATE, "pattern": f"^(19[0-9]{{2}}|20[0-9]{{2}}){_MONTH_DAY}",
             "description": f"YYYY-MM-DD from {YEAR_MIN}, not after today (422 otherwise)"}
assert ROSTER_SINCE_MIN.year == 1921
SINCE_DATE = {**DATE, "pattern": f"^(192[1-9]|19[3-9][0-9]|20[0-9]{{2}}){_MONTH_DAY}",
              "description": "YYYY-MM-DD from 1921, not after today (422 otherwise)"}


def _years_to(last: int) -> str:
    """A pattern of the years 1900..last (last in 2000..2099)."""
    tens, units = divmod(last - 2000, 10)
    decades = f"|20[0-{tens - 1}][0-9]" if tens else ""
    return f"19[0-9]{{2}}{decades}|20{tens}[0-{units}]"


def _as_of() -> dict[str, Any]:
    """As far ahead as the API takes an "as of" date: ten years after today, said here as
    the years up to nine years after this one (the description is built per request)."""
    last = min(today().year + 9, 2099)
    return {**DATE, "pattern": f"^({_years_to(last)}){_MONTH_DAY}",
            "description": f"YYYY-MM-DD from {YEAR_MIN}, at most ten years after today "
                           "(400 otherwise); default today"}
# Texts are trimmed, then must show a character that is not a space, control or format
# character; one-line texts hold no control character at all, long ones may break lines.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
_FORMAT = ("\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u08e2\\u180e\\u200b-\\u200f"
           "\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb")
# ... nor a filler or a mark without its letter (steps.BLANK_RANGES); no text holds a
# bidirectional control (steps.BIDI_RANGES)
_BIDI = char_class(BIDI_RANGES)
_SHOWN = f"[^\\s{_CONTROL}{_FORMAT}{char_class(BLANK_RANGES)}]"
ONE_LINE = f"^[^{_CONTROL}{_BIDI}]*{_SHOWN}[^{_CONTROL}{_BIDI}]*$"
_LINES = f"[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]"
LINES = f"^{_LINES}*{_SHOWN}{_LINES}*$"
NO_NUL = {"type": "string", "pattern": "^[^\\x00]*$"}  # what the API refuses in any string


def text(max_len: int = TEXT_MAX) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_len,
            "pattern": LINES if max_len > TEXT_MAX else ONE_LINE}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_INT}
FLAG = ["true", "false", "1", "0"]  # a yes/no query parameter (api._flag)
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


CASE_ID = _param("id", "path", ID)
AUTH = [{"bearer": []}]
PAGE = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
PER_PAGE = {"type": "integer", "minimum": 1, "maximum": 200}

VOTE = {"type": "object", "additionalProperties": False,
        "required": ["eligible", "present", "written", "yes", "no", "abstain", "method"],
        "description": "present ≤ eligible, yes + no + abstain = present + written, ... "
                       "(422 otherwise)",
        "properties": {**{k: {"type": "integer", "minimum": 0, "maximum": COUNT_MAX}
                          for k in COUNT_FIELDS},
                       "method": {"type": "string", "enum": ["secret_ballot", "show_of_hands"]}}}


def _field(f: Field) -> dict[str, Any]:
    """The JSON schema of one catalogue field: the same bounds `steps.check_field` applies."""
    t = FieldType
    if f.type is t.STR:
        if f.pattern:
            return {"type": "string", "pattern": f"^{f.pattern}$"}
        return text(f.max_len)
    if f.type is t.ENUM:
        return {"type": "string", "enum": list(f.choices)}
    if f.type is t.DATE:
        return DATE
    if f.type is t.BOOL:
        return {"type": "boolean"}
    if f.type in (t.INT, t.NUMBER):
        low = f.min if f.min is not None else -MAX_INT
        high = f.max if f.max is not None else MAX_INT
        return {"type": "integer" if f.type is t.INT else "number", "minimum": low,
                "maximum": high}
    if f.type is t.ROSTER_IDS:
        return {"type": "array", "items": ID, "uniqueItems": True, "minItems": int(f.min or 0),
                "maxItems": int(f.max or 0), "description": "roster member ids of the branch"}
    if f.type is t.VOTE:
        return VOTE
    if f.type is t.PERSON:
        return PERSON
    return CORRECTED_FIELDS


def _corrected_fields() -> dict[str, Any]:
    """What a correction may name: any recordable step's field (each as that step has it; a
    name several steps use with different types takes any of them) and occurred_on."""
    by_name: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in STEPS.values():
        if spec.id == "step_corrected":
            continue
        for f in spec.fields:
            schema = _field(f)
            by_name.setdefault(f.name, {})[json.dumps(schema, sort_keys=True)] = schema
    properties = {name: next(iter(found.values())) if len(found) == 1
                  else {"anyOf": list(found.values())} for name, found in by_name.items()}
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {**properties, "occurred_on": PAST_DATE},
            "description": "the corrected record's fields (and occurred_on), checked as that "
                           "step's data: a field its step does not have is 422"}


def _object(fields: tuple[Field, ...], **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "additionalProperties": False,
              "properties": {f.name: _field(f) for f in fields}, **extra}
    required = [f.name for f in fields if f.required]
    return {**schema, "required": required} if required else schema


CORRECTED_FIELDS: dict[str, Any] = {}  # filled below, once PERSON is known
PERSON = _object(tuple(f for f in PERSON_FIELDS if f.name != "id_number_masked"),
                 description="unknown fields are refused (422, person.<field>); id_number "
                             "must carry a valid GB 11643 check digit, birth_date not after "
                             "today; id_number_masked is the system's")
PERSON["properties"]["id_number"]["description"] = "18 characters, GB 11643 check digit"
PERSON["properties"]["birth_date"] = PAST_DATE
CORRECTED_FIELDS.update(_corrected_fields())

_STEP_COMMON = {
    "occurred_on": PAST_DATE, "note": text(LONG_TEXT_MAX),
    "version": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                "description": "the case version read; another one is 409"},
    "acknowledge": {"type": "boolean"}, "reason": text(LONG_TEXT_MAX),
    "decided_by": {**ID, "description":
                   "a committee decision (pre_review_decided, admission_approved, "
                   "conversion_approved, or a correction of one): the roster member who "
                   "decided; required with an API token (422 invalid, fields.decided_by)"},
}


def _step_body(step_id: str) -> dict[str, Any]:
    spec = STEPS[step_id]
    data = _object(spec.fields)
    body = {"type": "object", "additionalProperties": False,
            "required": ["step", "occurred_on"] + (["data"] if data.get("required") else []),
            "properties": {"step": {"type": "string", "enum": [step_id]}, "data": data,
                           **_STEP_COMMON}}
    return body


STEP_BODY = {
    "description": "one step: its data as the catalogue defines it (unknown fields are "
                   f"refused); JSON bodies nest at most {MAX_DEPTH} levels. Whether the step "
                   "may be recorded now is the workflow's (422 invalid, 409 "
                   "procedure_violation)",
    "oneOf": [_step_body(s) for s in sorted(STEPS) if s != "application_submitted"],
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
DOC_TYPES = sorted({d for spec in STEPS.values() for d in spec.documents})
YEAR = {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX,
        "description": "default: the year of as_of"}  # reports.tables.parse_year
PLAN_YEAR = {"type": "integer", "minimum": PLAN_YEAR_MIN, "maximum": YEAR_MAX}
QUOTA = {"type": "integer", "minimum": 0, "maximum": QUOTA_MAX}
TARGETS = {"type": "object", "additionalProperties": False,
           "description": "structure targets as counts of new members, each at most the quota",
           "properties": {name: QUOTA for name in PLAN_TARGETS}}
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
                                           "additionalProperties": False,
                                           "properties": {"name": text(NAME_MAX),
                                                          "status": {"type": "string",
                                                                     "enum": ["full", "probationary"]},
                                                          "since": SINCE_DATE}}),
                     "responses": {**_ok(201), **_errors(400, 401, 403, 404, 422)}},
            "get": {"responses": {**_ok(), **_errors(401, 404)}}},
        "/api/v1/cases": {
            "post": {"requestBody": _json({"type": "object",
                                           "required": ["branch", "person", "application_date"],
                                           "additionalProperties": False,
                                           "properties": {"branch": {**NO_NUL, "description":
                                                                     "a branch's code (a "
                                                                     "committee's: 422)"},
                                                          "person": PERSON,
                                                          "application_date": PAST_DATE,
                                                          "acknowledge": {"type": "boolean"},
                                                          "reason": text(LONG_TEXT_MAX)}}),
                     "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}},
            "get": {"parameters": [_param("branch", schema=NO_NUL),
                                   _param("stage", schema={"enum": list(STAGE_IDS)}),
                                   _param("q", schema={**NO_NUL, "maxLength": 50,
                                                       "description": "a name, or the last "
                                                       "4-6 characters of the ID number"}),
                                   _param("overdue", schema={"enum": FLAG}),
                                   _param("waiting", schema={
                                       "enum": FLAG, "description": "what waits "
                                       "for the caller: the committee's pre-reviews and "
                                       "approvals, or a branch's other open cases"}),
                                   _param("page", schema=PAGE),
                                   _param("per_page", schema=PER_PAGE)],
                    "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/cases/{id}": {"parameters": [CASE_ID], "get": {
            "parameters": [_param("as_of", schema=_as_of())],
            "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/cases/{id}/steps": {"parameters": [CASE_ID], "post": {
            "requestBody": _json(STEP_BODY),
            "responses": {**_ok(201, STEP_RESULT), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/cases/{id}/documents": {"parameters": [CASE_ID], "post": {
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "required": ["doc_type", "step_record_id", "on_file", "reference"],
                    "description": "a paper original on file; doc_type must be one the step "
                                   "record's step needs (422 otherwise)",
                    "properties": {"doc_type": {"type": "string", "enum": DOC_TYPES},
                                   "step_record_id": ID, "on_file": {"type": "boolean",
                                                                     "enum": [True]},
                                   "reference": text(TEXT_MAX)}}},
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["file", "doc_type", "step_record_id"],
                    "additionalProperties": False,
                    "description": "an uploaded file, taken by its content: PDF, JPEG, PNG, "
                                   "OFD, DOCX or XLSX with a matching suffix (" +
                                   " ".join(sorted({x for v in KINDS.values() for x in v})) +
                                   f"), a file name of at most {FILENAME_MAX} characters; "
                                   "anything else is 422 (fields.file)",
                    "properties": {"file": {"type": "string", "format": "binary"},
                                   "doc_type": {"type": "string", "enum": DOC_TYPES},
                                   "step_record_id": ID}}}}},
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 413, 422)}}},
        "/api/v1/cases/{id}/documents/{document_id}": {
            "parameters": [CASE_ID, _param("document_id", "path", ID)], "get": {
                "description": "an uploaded file of the case, as an attachment with the media "
                               "type its content was recognised as (X-Content-Type-Options: "
                               "nosniff); logged as download_document",
                "responses": {"200": {"description": "the file", "content": {
                    "application/octet-stream": {"schema": {"type": "string",
                                                            "format": "binary"}}}},
                              **_errors(401, 404)}}},
        "/api/v1/pre-reviews": {"get": {
            "parameters": [_param("status", schema={"type": "string",
                                                    "enum": ["pending", "decided"]})],
            "responses": {**_ok(), **_errors(400, 401)}}},
        "/api/v1/approvals": {"get": {"responses": {**_ok(), **_errors(401)}}},
        "/api/v1/trainings": {"post": {
            "requestBody": _json({"type": "object", "required": ["title", "start_on", "end_on", "hours"],
                                  "additionalProperties": False,
                                  "description": "end_on not before start_on; invitees: "
                                                 "activists of the committee's branches (422 "
                                                 "otherwise)",
                                  "properties": {"title": text(TEXT_MAX),
                                                 "number": {**text(NUMBER_MAX),
                                                            "nullable": True,
                                                            "description": "the committee's "
                                                            "course number, free text such "
                                                            "as 2026-第3期; null: none"},
                                                 "start_on": DATE,
                                                 "end_on": DATE,
                                                 "hours": {"type": "number", "minimum": 0,
                                                           "exclusiveMinimum": True,
                                                           "maximum": HOURS_MAX},
                                                 "invitees": {"type": "array", "items": ID,
                                                              "maxItems": INVITEES_MAX}}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 422)}}},
        "/api/v1/trainings/{id}/attendance": {"parameters": [CASE_ID], "post": {
            "requestBody": _json({"type": "object", "required": ["case_id", "attended"],
                                  "additionalProperties": False,
                                  "description": "case_id: a case invited to the course (422 "
                                                 "otherwise); 409 when its attendance is "
                                                 "already recorded: change it through "
                                                 "/attendance/corrections",
                                  "properties": {"case_id": ID, "attended": {"type": "boolean"},
                                                 "acknowledge": {"type": "boolean"},
                                                 "reason": text(LONG_TEXT_MAX)}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/trainings/{id}/attendance/corrections": {"parameters": [CASE_ID], "post": {
            "requestBody": _json({"type": "object", "required": ["case_id", "attended", "reason"],
                                  "additionalProperties": False,
                                  "description": "change a recorded attendance: stored as a "
                                                 "step_corrected of each differing "
                                                 "training_attended record of this course, "
                                                 "the first record kept; 409 on POST "
                                                 "/attendance when one exists; 422 when none "
                                                 "exists or nothing changes",
                                  "properties": {"case_id": ID, "attended": {"type": "boolean"},
                                                 "reason": text(CHANGE_REASON_MAX)}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/alerts": {"get": {"parameters": [_param("as_of", schema=_as_of()),
                                                  _param("org", schema=NO_NUL)],
                                   "responses": {**_ok(), **_errors(400, 401, 404)}}},
        "/api/v1/rubric": {"get": {"parameters": [_param("org", schema={
                                                      **NO_NUL, "description": "a branch's "
                                                      "code (another organisation's: 422)"}),
                                                  _param("year", schema=YEAR),
                                                  _param("as_of", schema=_as_of())],
                                   "responses": {**_ok(), **_errors(400, 401, 404, 422)}}},
        "/api/v1/plans": {
            "get": {"description": "Plan against actual for a year: for a branch, or every "
                                   "branch of a committee (default: the caller's "
                                   "organisation); each row holds the plan (versions, "
                                   "measures), votes passed, admissions approved, the "
                                   "pipeline, over-plan votes and, for the current year, "
                                   "whether the pipeline can still fill the plan.",
                    "parameters": [_param("org", schema=NO_NUL),
                                   _param("year", schema={**PLAN_YEAR,
                                                          "description": "default: this year"})],
                    "responses": {**_ok(), **_errors(400, 401, 404)}},
            "post": {"description": "The committee sets a branch's yearly plan (version 1); "
                                    "one plan per branch and year (409 when it exists: adjust "
                                    "it). org: a branch in scope (another kind: 422); each "
                                    "target at most the quota (422 otherwise).",
                     "requestBody": _json({"type": "object", "required": ["org", "year", "quota"],
                                           "additionalProperties": False,
                                           "properties": {"org": text(TEXT_MAX),
                                                          "year": PLAN_YEAR, "quota": QUOTA,
                                                          "targets": TARGETS}}),
                     "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/plans/{id}/adjustments": {"parameters": [CASE_ID], "post": {
            "description": "A new version of the plan from today on, with its reason (the "
                           "versions before stay); version: the one the caller saw (409 when "
                           "another adjustment came first).",
            "requestBody": _json({"type": "object", "required": ["quota", "reason"],
                                  "additionalProperties": False,
                                  "properties": {"quota": QUOTA, "targets": TARGETS,
                                                 "reason": {**text(LONG_TEXT_MAX),
                                                            "minLength": 4},
                                                 "version": ID}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/plans/{id}/measures": {"parameters": [CASE_ID], "post": {
            "description": "The branch records a measure of its plan: what, who, by when "
                           "(the plan's own branch only: 403 otherwise).",
            "requestBody": _json({"type": "object", "required": ["text", "owner"],
                                  "additionalProperties": False,
                                  "properties": {"text": text(LONG_TEXT_MAX),
                                                 "owner": text(TEXT_MAX),
                                                 "due_on": {**DATE, "nullable": True}}}),
            "responses": {**_ok(201), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/export/events.xes": {"get": {"parameters": [_param("org", schema=NO_NUL)],
                                              "responses": {
            "200": {"description": "XES event log", "content": {"application/xml": {}}},
            **_errors(400, 401, 404)}}},
        "/api/v1/audit": {"get": {
            "description": "Who viewed or exported personal data, newest first. Committee "
                           "organisers and auditors see accesses by accounts of their "
                           "organisation's subtree, the admin all; branch accounts get 403. "
                           "from/to are Beijing dates, inclusive.",
            "parameters": [_param("user", schema={**NO_NUL, "maxLength": 80}),
                           _param("case_id", schema=ID),
                           _param("action", schema={"type": "string", "enum": AUDIT_ACTIONS}),
                           _param("from", schema=DATE), _param("to", schema=DATE),
                           _param("page", schema=PAGE), _param("per_page", schema=PER_PAGE)],
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
