"""Domain errors the adapters map to HTTP codes, pages or exit statuses."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(ServiceError):
    code, status = "bad_request", 400


class Unauthenticated(ServiceError):
    code, status = "unauthenticated", 401


class Forbidden(ServiceError):
    code, status = "forbidden", 403


class NotFound(ServiceError):
    code, status = "not_found", 404


class Conflict(ServiceError):
    code, status = "conflict", 409


class ProcedureViolation(ServiceError):
    code, status = "procedure_violation", 409

    def __init__(self, message: str, violations: Sequence[Mapping[str, Any]],
                 fields: Mapping[str, str] | None = None) -> None:
        extra: dict[str, Any] = {"fields": dict(fields)} if fields else {}
        super().__init__(message, violations=list(violations), **extra)


class DuplicatePerson(ServiceError):
    """The ID number already has an open case (named by `case_id`): one person, one case."""

    code, status = "duplicate_person", 409


class Invalid(ServiceError):
    code, status = "invalid", 422

    def __init__(self, message: str, fields: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message, fields=dict(fields or {}), **extra)


class TooLarge(ServiceError):
    code, status = "too_large", 413
