"""Authentication routes (API.md §3)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import no_content
from chalicelib.api.routing import principal, route
from chalicelib.domain.auth import SignedIn

bp = Blueprint(__name__)


def token_json(signed_in: SignedIn) -> dict[str, Any]:
    account, tokens = signed_in.account, signed_in.tokens
    return {"access_token": tokens.access_token, "token_type": "Bearer", "expires_in": tokens.expires_in,
            "refresh_token": tokens.refresh_token,
            "user": {"user_id": account.user_id, "role": account.role, "name": account.name,
                     "must_change_password": account.must_change_password}}


@route(bp, "/auth/login", ["POST"], public=True)
def login() -> Any:
    data = body(bp, {"account": v.text(64), "password": v.secret_text(1024),
                     "device_token": v.text(256, required=False),
                     "captcha_id": v.text(64, required=False), "captcha_answer": v.text(16, required=False)})
    return token_json(deps.auth_service().login(data["account"], data["password"]))


@route(bp, "/auth/refresh", ["POST"], public=True)
def refresh() -> Any:
    data = body(bp, {"refresh_token": v.secret_text(256)})
    return token_json(deps.auth_service().refresh(data["refresh_token"]))


@route(bp, "/auth/logout", ["POST"], allow_password_change=True)
def logout() -> Any:
    body(bp, {"refresh_token": v.secret_text(256, required=False)})
    deps.auth_service().logout(principal())
    return no_content()


@route(bp, "/auth/password", ["POST"], allow_password_change=True)
def change_password() -> Any:
    data = body(bp, {"old_password": v.secret_text(1024), "new_password": v.secret_text(1024)})
    deps.auth_service().change_password(principal(), data["old_password"], data["new_password"])
    return no_content()
