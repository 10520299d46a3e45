"""Mounting the route table (`chalicelib/routes.py`) on the app, and the caller of the current request.

`mount()` registers one stub per route that imports the view's module on its first call, so the cold path
imports no area code. The middleware (`api/middleware.py`) looks each request's options up here, from the
same table, so what is mounted and what is enforced cannot disagree.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Chalice

from chalicelib.errors import Unauthenticated
from chalicelib.routes import ADMIN, ANY_ROLE, OWNER, OWNERS_AND_STAFF, ROUTES, STAFF, STAFF_AND_TECHNICIANS, Route

if TYPE_CHECKING:
    from chalicelib.domain.model import Principal

__all__ = ["ADMIN", "ANY_ROLE", "OWNER", "OWNERS", "OWNERS_AND_STAFF", "STAFF", "STAFF_AND_TECHNICIANS", "mount",
           "options_for", "principal", "public_routes"]
OWNERS = OWNER

_OPTIONS: dict[tuple[str, str], Route] = {(r.path, r.method): r for r in ROUTES}
# Alipay posts its notices as a form (`application/x-www-form-urlencoded`, charset UTF-8 or GBK; Chalice matches
# the type whatever its parameters); every other route takes JSON only.
FORM_BODIES = frozenset({"payments.provider_callback"})
JSON_OR_FORM = ["application/json", "application/x-www-form-urlencoded"]
_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def options_for(path: str, method: str) -> Route | None:
    return _OPTIONS.get((path, method.upper()))


def public_routes() -> set[tuple[str, str]]:
    return {key for key, r in _OPTIONS.items() if r.public}


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


def resolve(module: str, function: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), function)


def lazy_view(module: str, function: str) -> Callable[..., Any]:
    """A view that imports `module` on its first call and then calls its `function` (an `@endpoint` view)."""
    resolved: list[Callable[..., Any]] = []

    def view(**kwargs: Any) -> Any:
        if not resolved:
            resolved.append(resolve(module, function))
        return resolved[0](**kwargs)

    return view


def mount(app: Chalice) -> None:
    """Register one lazy stub per route of the table."""
    for entry in ROUTES:
        types = JSON_OR_FORM if entry.view in FORM_BODIES else ["application/json"]
        app.route(entry.path, methods=[entry.method], name=entry.name, content_types=types)(
            lazy_view(entry.module, entry.function))
