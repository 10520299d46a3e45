"""Route declaration: every route says whether it is public and who may call it; everything else is closed.

`route()` registers the view with Chalice and records its options; the middleware (`api/middleware.py`)
reads those options on every request, so a route registered any other way still requires a token.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Chalice

from chalicelib.api.http import error_response, internal_error
from chalicelib.errors import DomainError, Unauthenticated
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.model import Principal

STAFF = frozenset({"staff", "admin"})
STAFF_AND_TECHNICIANS = frozenset({"staff", "admin", "technician"})
ADMIN = frozenset({"admin"})
OWNERS = frozenset({"owner"})
ANY_ROLE = frozenset({"owner", "staff", "technician", "admin"})


@dataclass(frozen=True)
class RouteOptions:
    public: bool
    roles: frozenset[str]
    # Routes reachable while `must_change_password` is set (API.md §3: password change, logout, GET /me).
    allow_password_change: bool


_OPTIONS: dict[tuple[str, str], RouteOptions] = {}
_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def options_for(path: str, method: str) -> RouteOptions | None:
    return _OPTIONS.get((path, method.upper()))


def public_routes() -> set[tuple[str, str]]:
    return {key for key, opts in _OPTIONS.items() if opts.public}


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _principal.reset(token)


def principal() -> Principal:
    """The authenticated caller of the current request (the middleware has already checked the session)."""
    current = _principal.get()
    if current is None:
        raise Unauthenticated()
    return current


def route(bp: Blueprint | Chalice, path: str, methods: Iterable[str] = ("GET",), *, public: bool = False,
          roles: frozenset[str] | None = None, allow_password_change: bool = False) -> Callable[..., Any]:
    """Register a view. Routes under `/staff/` default to staff and admin; the rest to any signed-in role."""
    methods = tuple(m.upper() for m in methods)
    if roles is None:
        roles = STAFF if path.startswith("/staff/") else ANY_ROLE
    if path.startswith("/staff/") and "owner" in roles:
        raise ValueError(f"owners never reach /staff/ routes: {path}")
    for method in methods:
        _OPTIONS[(path, method)] = RouteOptions(public, roles, allow_password_change)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handle(**kwargs: Any) -> Any:
            try:
                return view(**kwargs)
            except DomainError as error:
                return error_response(error)
            except Exception:  # noqa: BLE001 - see below
                # The caller gets a generic 500; the log gets the traceback (redacted) for the engineers.
                logger.exception("unhandled error in view", extra={"view": view.__name__})
                return internal_error()

        bp.route(path, methods=list(methods))(handle)
        return handle

    return decorator
