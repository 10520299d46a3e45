"""The HTTP middleware every request passes: request id, body limits, fail-closed authentication, error format.

Authentication lives here and not in the views so that a route nobody remembered to protect is protected
anyway: only routes the table (`chalicelib/routes.py`) lists as `public` skip the token check.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.api import contract, routing
from chalicelib.api.http import JSON, dumps, error_body, error_response, internal_error, json_response
from chalicelib.api.validation import check_json_depth
from chalicelib.errors import DomainError, Forbidden, PasswordChangeRequired, PayloadTooLarge, Unauthenticated
from chalicelib.observability import flush_metrics, logger

MAX_BODY_BYTES = 64 * 1024


class RequestInfo:
    """The request being served: route template, method, caller role (`anonymous` until authenticated)."""

    __slots__ = ("method", "role", "route")

    def __init__(self, route: str, method: str, role: str = "anonymous") -> None:
        self.route, self.method, self.role = route, method, role


# Read by in-process observers only (bench/dynamodb_calls.py attributes DynamoDB calls to routes with it).
current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("current_request", default=None)

# Chalice's own error answers ({"Code": ..., "Message": ...}) rewritten into the API.md format.
_CHALICE_CODES = {
    400: ("validation_error", "The request is not valid."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "The resource was not found."),
    405: ("method_not_allowed", "This method is not allowed on this resource."),
    415: ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
    500: ("internal_error", "Something went wrong on our side."),
}


def request_id(event: Request) -> str:
    context = getattr(event, "lambda_context", None)
    rid = getattr(context, "aws_request_id", None)
    if isinstance(rid, str) and rid:
        return rid
    import uuid  # only outside Lambda (local server, tests): not on the cold path

    return str(uuid.uuid4())


def source_ip(event: Request) -> str:
    return str((event.context or {}).get("identity", {}).get("sourceIp") or "unknown")


def _bearer(event: Request) -> str:
    header = event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


def _authorise(event: Request, path: str, method: str) -> Any:
    options = routing.options_for(path, method)
    if options is not None and options.public:
        return None
    from chalicelib import deps

    principal = deps.session_service().authenticate(_bearer(event))
    if options is None:
        # Registered outside the route table: still closed, and /staff/ still needs staff.
        roles = routing.STAFF if path.startswith("/staff/") else routing.ANY_ROLE
        allow_change = False
    else:
        roles, allow_change = options.roles, options.while_password_change
    if principal.must_change_password and not allow_change:
        raise PasswordChangeRequired()
    if principal.role not in roles:
        raise Forbidden()
    return principal


def _serialised(response: Response) -> Response:
    """A view's plain dict or list, serialised here: Chalice's own serialisation escapes non-ASCII (`\\u7ba1`)."""
    if response.body is not None and not isinstance(response.body, (str, bytes)):
        response.body = dumps(response.body)
        response.headers.setdefault("Content-Type", JSON)
    return response


def _normalise(response: Response) -> Response:
    """Rewrite Chalice's built-in error bodies into the API.md format; never leak exception text."""
    if response.status_code < 400:
        return response
    body = response.body
    try:
        parsed = json.loads(body) if isinstance(body, (str, bytes)) and body else body
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "code" in parsed and "message" in parsed:
        return response
    code, message = _CHALICE_CODES.get(response.status_code, ("error", "The request could not be completed."))
    if response.status_code >= 500:
        code, message = _CHALICE_CODES[500]
    return json_response(error_body(code, message), response.status_code)


def register(app: Chalice) -> None:
    @app.middleware("http")
    def gateway(event: Request, get_response: Callable[[Request], Response]) -> Response:
        started = time.perf_counter()
        rid = request_id(event)
        logger.set_correlation_id(rid)
        path = (event.context or {}).get("resourcePath", "")
        token = routing.set_principal(None)
        request_token = contract.set_request(event)
        info = RequestInfo(path, event.method)
        info_token = current_request.set(info)
        try:
            raw = event.raw_body or b""
            if len(raw) > MAX_BODY_BYTES:
                raise PayloadTooLarge()
            # Before any parser sees it (views, provider callbacks): deep nesting exhausts the stack.
            check_json_depth(raw)
            principal = _authorise(event, path, event.method)
            if principal is not None:
                routing.set_principal(principal)
                info.role = principal.role
                logger.append_keys(user_id=principal.user_id, role=principal.role)
            response = get_response(event)
        except DomainError as error:
            response = error_response(error)
        except Exception:  # noqa: BLE001 - last line of defence: a generic 500, the traceback only in the log
            logger.exception("unhandled error in middleware")
            response = internal_error()
        finally:
            routing.reset_principal(token)
            contract.reset_request(request_token)
            current_request.reset(info_token)
        response = _normalise(_serialised(response))
        response.headers["X-Request-Id"] = rid
        if response.status_code != 204 and "Content-Type" not in response.headers:
            response.headers["Content-Type"] = JSON
        logger.info("request", extra={"method": event.method, "route": path, "status": response.status_code,
                                      "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        logger.remove_keys(["user_id", "role"])
        flush_metrics()
        return response
