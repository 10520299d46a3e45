"""Authentication routes (API.md §3)."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body, client_ip
from chalicelib.api.http import accepted, no_content
from chalicelib.api.routing import ANY_ROLE, principal, route

if TYPE_CHECKING:
    from chalicelib.domain.auth import SignedIn

bp = Blueprint(__name__)

CODE = re.compile(r"[0-9]{6}")


def token_json(signed_in: SignedIn) -> dict[str, Any]:
    account, tokens = signed_in.account, signed_in.tokens
    answer = {"access_token": tokens.access_token, "token_type": "Bearer", "expires_in": tokens.expires_in,
              "refresh_token": tokens.refresh_token,
              "user": {"user_id": account.user_id, "role": account.role, "name": account.name,
                       "must_change_password": account.must_change_password}}
    if signed_in.device_token:
        answer["device_token"] = signed_in.device_token
    return answer


def _code() -> v.Field:
    return v.text(6, pattern=CODE, pattern_hint="must be 6 digits")


@route(bp, "/auth/captcha", public=True)
def captcha() -> Any:
    image = deps.auth_service().captcha.new()
    return {"captcha_id": image.captcha_id, "image": "data:image/png;base64," + base64.b64encode(image.png).decode(),
            "expires_in": image.expires_in}


@route(bp, "/auth/login", ["POST"], public=True)
def login() -> Any:
    data = body(bp, {"account": v.text(64), "password": v.secret_text(1024),
                     "device_token": v.text(256, required=False), "captcha_id": v.ident(required=False),
                     "captcha_answer": v.text(16, required=False)})
    result = deps.auth_service().sign_in.login(data["account"], data["password"], client_ip(bp),
                                               device_token=data["device_token"], captcha_id=data["captcha_id"],
                                               captcha_answer=data["captcha_answer"])
    from chalicelib.domain.auth import MfaRequired

    if isinstance(result, MfaRequired):
        return {"status": "mfa_required", "challenge_id": result.challenge_id, "methods": list(result.methods),
                "phone_hint": result.phone_hint, "expires_in": result.expires_in}
    return token_json(result)


@route(bp, "/auth/sms", ["POST"], public=True)
def send_sms() -> Any:
    """Text a sign-in, reset or phone-change code.

    Only texts actually sent are charged: if SNS fails, the quota and the resend window are given back and the
    answer is 503 `sms_unavailable`; retry at once.
    """
    data = body(bp, {"challenge_id": v.ident()})
    deps.auth_service().codes.send(data["challenge_id"], client_ip(bp))
    return accepted({"resend_after": 60, "expires_in": 300})


@route(bp, "/auth/verify", ["POST"], public=True)
def verify() -> Any:
    data = body(bp, {"challenge_id": v.ident(), "method": v.choice(("sms", "totp")), "code": _code(),
                     "trust_device": v.boolean(default=False)})
    return token_json(deps.auth_service().sign_in.verify(data["challenge_id"], data["method"], data["code"],
                                                         bool(data["trust_device"])))


@route(bp, "/auth/refresh", ["POST"], public=True)
def refresh() -> Any:
    data = body(bp, {"refresh_token": v.secret_text(256)})
    return token_json(deps.auth_service().account.refresh(data["refresh_token"]))


@route(bp, "/auth/logout", ["POST"], allow_password_change=True)
def logout() -> Any:
    body(bp, {"refresh_token": v.secret_text(256, required=False)})
    deps.auth_service().account.logout(principal())
    return no_content()


@route(bp, "/auth/password", ["POST"], allow_password_change=True)
def change_password() -> Any:
    """Change the caller's password; the old one counts against the sign-in failures and lock (423)."""
    data = body(bp, {"old_password": v.secret_text(1024), "new_password": v.secret_text(1024)})
    deps.auth_service().account.change_password(principal(), data["old_password"], data["new_password"])
    return no_content()


@route(bp, "/auth/password/reset", ["POST"], public=True)
def start_reset() -> Any:
    data = body(bp, {"account": v.text(64), "captcha_id": v.ident(), "captcha_answer": v.text(16)})
    started = deps.auth_service().recovery.start(data["account"], client_ip(bp), data["captcha_id"],
                                                 data["captcha_answer"])
    return accepted({"challenge_id": started.challenge_id, "phone_hint": started.phone_hint,
                     "expires_in": started.expires_in})


@route(bp, "/auth/password/reset/confirm", ["POST"], public=True)
def confirm_reset() -> Any:
    data = body(bp, {"challenge_id": v.ident(), "code": _code(), "new_password": v.secret_text(1024)})
    deps.auth_service().recovery.confirm(data["challenge_id"], data["code"], data["new_password"])
    return no_content()


@route(bp, "/me/phone", ["POST"], roles=ANY_ROLE)
def start_phone_change() -> Any:
    """Re-authenticate with the password (counted like a sign-in, 423 while locked), then text the new number."""
    data = body(bp, {"new_phone": v.phone(), "password": v.secret_text(1024)})
    challenge_id = deps.auth_service().phone_change.start(principal(), data["new_phone"], data["password"],
                                                            client_ip(bp))
    return accepted({"challenge_id": challenge_id, "resend_after": 60, "expires_in": 300})


@route(bp, "/me/phone/verify", ["POST"], roles=ANY_ROLE)
def confirm_phone_change() -> Any:
    data = body(bp, {"challenge_id": v.ident(), "code": _code()})
    deps.auth_service().phone_change.confirm(principal(), data["challenge_id"], data["code"])
    return no_content()


@route(bp, "/auth/totp/setup", ["POST"])
def totp_setup() -> Any:
    body(bp, {})
    secret, uri = deps.auth_service().totp.setup(principal())
    return {"secret": secret, "otpauth_uri": uri}


@route(bp, "/auth/totp/activate", ["POST"])
def totp_activate() -> Any:
    data = body(bp, {"code": _code()})
    deps.auth_service().totp.activate(principal(), data["code"])
    return no_content()


@route(bp, "/auth/totp", ["DELETE"])
def totp_remove() -> Any:
    data = body(bp, {"code": _code()})
    deps.auth_service().totp.remove(principal(), data["code"])
    return no_content()
