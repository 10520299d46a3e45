"""A view's contract: what it reads (body, query, headers, path), what it answers, which errors it can give.

    @endpoint(body=NewReading, response=Reading, status=201, errors=("reading_goes_down",))
    def post_reading(body: NewReading) -> Reading:
        ...

`endpoint` validates the request into the declared shapes before the view runs (400 `validation_error`
listing every bad field, unknown fields refused), hands the parsed values in as `body=`, `query=`, `headers=`,
turns the returned dict into JSON with the declared status, and maps domain errors to the API.md format.
The OpenAPI document (`chalicelib/api/openapi.py`) is built from the same declarations, so what is validated
is what is documented. Response types are TypedDicts: building one is building the dict that is sent.

Where a view is in the route table is `chalicelib/routes.py`; who may call it is there too.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from chalice import Response
from chalice.app import Request

from chalicelib.api.http import error_response, internal_error, json_response, no_content
from chalicelib.api.validation import IDENT, Field, FieldProblem, Shape, parse_json_object
from chalicelib.errors import DomainError, NotFound
from chalicelib.observability import logger

# Every error code an endpoint may name, and the status it is answered with (API.md §1 and each area's): the one
# vocabulary of error codes. `http.status_for` answers by exception class; a unit test checks the two agree.
ERROR_STATUS: dict[str, int] = {
    # 400
    "validation_error": 400, "invalid_cursor": 400, "weak_password": 400, "captcha_required": 400,
    "captcha_invalid": 400, "fee_schedule_missing": 400, "method_unavailable": 400, "sms_not_allowed": 400,
    "callback_rejected": 400,
    # 401
    "unauthenticated": 401, "invalid_credentials": 401, "invalid_code": 401, "challenge_expired": 401,
    "invalid_signature": 401,
    # 403, 404
    "forbidden": 403, "password_change_required": 403, "refund_limit_exceeded": 403,
    "not_found": 404,
    # 409
    "conflict": 409, "invalid_transition": 409, "already_rated": 409, "too_many_photos": 409,
    "bill_in_payment": 409, "bill_already_paid": 409, "not_paid": 409, "request_in_progress": 409,
    "already_signed_up": 409, "event_full": 409, "event_started": 409, "cannot_reset_self": 409,
    "refund_exceeds_payment": 409, "bill_not_refundable": 409, "refund_in_progress": 409, "no_common_owner": 409,
    # 413, 422, 423, 429
    "payload_too_large": 413,
    "unprocessable": 422, "idempotency_key_reused": 422,
    "account_locked": 423,
    "rate_limited": 429,
    # 500, 503
    "internal_error": 500,
    "unavailable": 503, "sms_unavailable": 503, "provider_misconfigured": 503,
}


class Page(TypedDict):
    """Every list answer (API.md §1): a page of items and the cursor of the next page (`null` at the end)."""

    items: list[Any]
    next_cursor: str | None


_PAGES: dict[type, type] = {}


def page_of(item: type) -> type:
    """The page type of `item` (named `<Item>Page` in the document)."""
    if item not in _PAGES:
        _PAGES[item] = TypedDict(f"{item.__name__}Page", {"items": list[item], "next_cursor": str | None})  # type: ignore[misc,operator]
    return _PAGES[item]


class Endpoint:
    """The declared contract of one view (read by the wrapper and by the OpenAPI builder)."""

    __slots__ = ("body", "content", "errors", "headers", "path", "query", "raw_body", "response", "responses",
                 "status")

    def __init__(self, *, body: type[Shape] | None, query: type[Shape] | None, headers: type[Shape] | None,
                 path: dict[str, Field], response: Any, status: int, responses: dict[int, Any],
                 errors: tuple[str, ...], raw_body: bool, content: str | None) -> None:
        self.body, self.query, self.headers, self.path = body, query, headers, path
        self.response, self.status, self.responses, self.errors = response, status, responses, errors
        self.raw_body, self.content = raw_body, content


class _Empty(Shape):
    """What a view that declares no body or query accepts: nothing (any field is refused as unknown)."""


_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar("request", default=None)


def set_request(request: Request | None) -> contextvars.Token[Request | None]:
    return _request.set(request)


def reset_request(token: contextvars.Token[Request | None]) -> None:
    _request.reset(token)


def request() -> Request:
    """The request being served (set by the middleware)."""
    current = _request.get()
    if current is None:
        raise RuntimeError("no request is being served")
    return current


def client_ip() -> str:
    return str((request().context or {}).get("identity", {}).get("sourceIp") or "unknown")


def endpoint(*, body: type[Shape] | None = None, query: type[Shape] | None = None,
             headers: type[Shape] | None = None, path: dict[str, Field] | None = None, response: Any = None,
             status: int = 200, responses: dict[int, Any] | None = None, errors: Iterable[str] = (),
             raw_body: bool = False, content: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and enforce a view's contract.

    `path` gives fields for path parameters that are not ids (every other path parameter must be an id: a
    malformed one names nothing, so it is a 404). `response` is the TypedDict of the `status` answer (None for
    204); `responses` adds other success answers (status → type). `errors` names the codes the view itself can
    answer beyond those every route shares. `raw_body` leaves the body to the view (provider callbacks);
    `content` is the media type of a non-JSON answer.
    """
    declared = tuple(errors)
    unknown = [code for code in declared if code not in ERROR_STATUS]
    if unknown:
        raise ValueError(f"unknown error codes {unknown}: add them to contract.ERROR_STATUS")
    spec = Endpoint(body=body, query=query, headers=headers, path=dict(path or {}), response=response,
                    status=status, responses=dict(responses or {}), errors=declared, raw_body=raw_body,
                    content=content)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handle(**params: str) -> Any:
            try:
                result = view(**_arguments(spec, request(), params))
            except DomainError as error:
                return error_response(error)
            except Exception:  # noqa: BLE001 - see below
                # The caller gets a generic 500; the log gets the traceback (redacted) for the engineers.
                logger.exception("unhandled error in view", extra={"view": view.__name__})
                return internal_error()
            if isinstance(result, Response):
                return result
            if spec.status == 204:
                return no_content()
            if _CHECK_RESPONSES:
                check_response(spec, result)
            return json_response(result, spec.status)

        handle.endpoint = spec  # type: ignore[attr-defined]
        return handle

    return decorator


# The test suite sets CONTRACT_CHECK=1: every answer is then checked against its declared type, so the tests of
# every area also prove the document true. Off in the stages (it costs a decode per response).
_CHECK_RESPONSES = os.environ.get("CONTRACT_CHECK") == "1"


class ContractViolation(AssertionError):
    """An answer that does not match the type the view declares (a bug; only raised with CONTRACT_CHECK=1)."""


def check_response(spec: Endpoint, result: Any) -> None:
    """Decode the JSON a client would receive as the declared response type; raise if it does not conform."""
    import msgspec

    from chalicelib.api.http import dumps

    sent = dumps(result).encode()
    kinds = spec.response if isinstance(spec.response, tuple) else (spec.response,)
    problems = []
    for kind in kinds:
        try:
            msgspec.json.decode(sent, type=kind)
            return
        except msgspec.ValidationError as error:
            problems.append(f"{getattr(kind, '__name__', kind)}: {error}")
    raise ContractViolation("; ".join(problems))


def _arguments(spec: Endpoint, event: Request, params: dict[str, str]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for name, value in params.items():
        field = spec.path.get(name)
        if field is None:
            if not IDENT.fullmatch(value):
                raise NotFound()
            arguments[name] = value
        else:
            try:
                arguments[name] = field.parse(value)
            except FieldProblem:
                raise NotFound() from None
    if not spec.raw_body:
        parsed = (spec.body or _Empty).parse(parse_json_object(event.raw_body))
        if spec.body is not None:
            arguments["body"] = parsed
    parsed_query = (spec.query or _Empty).parse_query(event.query_params)
    if spec.query is not None:
        arguments["query"] = parsed_query
    if spec.headers is not None:
        arguments["headers"] = spec.headers.parse_headers(event.headers)
    return arguments


def view_endpoint(view: Any) -> Endpoint | None:
    return getattr(view, "endpoint", None)
