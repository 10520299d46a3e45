"""Responses and the one mapping from domain errors to HTTP statuses and the API.md error format."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalice import Response

from chalicelib import errors

JSON = "application/json; charset=utf-8"

# Most specific class first; the first match in the error's MRO decides the status.
_STATUS: dict[type[errors.DomainError], int] = {
    errors.PayloadTooLarge: 413,
    errors.Unavailable: 503,
    errors.RateLimited: 429,
    errors.Locked: 423,
    errors.PreconditionFailed: 422,
    errors.Conflict: 409,
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Unauthenticated: 401,
    errors.InvalidCursor: 400,
    errors.ValidationFailed: 400,
    errors.DomainError: 400,
}


def status_for(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=_default, ensure_ascii=False, separators=(",", ":"))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=dumps(body), status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def created(body: Any) -> Response:
    return json_response(body, 201)


def accepted(body: Any) -> Response:
    return json_response(body, 202)


def no_content() -> Response:
    return Response(body="", status_code=204, headers={})


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def error_response(error: errors.DomainError) -> Response:
    headers = {}
    if isinstance(error, errors.RateLimited) or (isinstance(error, errors.Locked) and error.details):
        headers["Retry-After"] = str((error.details or {}).get("retry_after", 1))
    return json_response(error_body(error.code, error.message, error.details), status_for(error), headers)


def internal_error() -> Response:
    return json_response(error_body("internal_error", "Something went wrong on our side."), 500)
