"""Authentication routes (API.md §3; phone change §5)."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import client_ip, endpoint
from chalicelib.api.routing import principal
from chalicelib.domain.model import Role

if TYPE_CHECKING:
    from chalicelib.domain.auth import MfaRequired, SignedIn

CODE = re.compile(r"[0-9]{6}")
RESEND_AFTER, CODE_EXPIRES_IN = 60, 300

Method = Literal["sms", "totp"]


def _code() -> v.Field:
    return v.about(v.text(6, pattern=CODE, pattern_hint="must be 6 digits"), "The 6-digit code")


# -- request shapes -------------------------------------------------------------------------------


class Login(v.Shape):
    account = v.about(v.text(64), "The account name or the phone number")
    password = v.secret_text(1024)
    device_token = v.about(v.text(256, required=False), "From an earlier verify with trust_device: skips the code")
    captcha_id = v.about(v.ident(required=False), "Required once the answer was captcha_required")
    captcha_answer = v.text(16, required=False)


class SendSms(v.Shape):
    challenge_id = v.ident()


class Verify(v.Shape):
    challenge_id = v.ident()
    method = v.choice(("sms", "totp"))
    code = _code()
    trust_device = v.about(v.boolean(default=False), "Answer a device_token that skips the code for 30 days")


class Refresh(v.Shape):
    refresh_token = v.secret_text(256)


class Logout(v.Shape):
    refresh_token = v.about(v.secret_text(256, required=False), "Accepted and ignored: the session is ended")


class ChangePassword(v.Shape):
    old_password = v.secret_text(1024)
    new_password = v.secret_text(1024)


class StartReset(v.Shape):
    account = v.about(v.text(64), "The account name or the phone number")
    captcha_id = v.ident()
    captcha_answer = v.text(16)


class ConfirmReset(v.Shape):
    challenge_id = v.ident()
    code = _code()
    new_password = v.secret_text(1024)


class StartPhoneChange(v.Shape):
    new_phone = v.phone()
    password = v.about(v.secret_text(1024), "The caller's password (counted like a sign-in)")


class ConfirmPhoneChange(v.Shape):
    challenge_id = v.ident()
    code = _code()


class TotpCode(v.Shape):
    code = _code()


# -- answers --------------------------------------------------------------------------------------


class Captcha(TypedDict):
    captcha_id: str
    image: str  # a data: URI of the PNG
    expires_in: int


class TokenUser(TypedDict):
    user_id: str
    role: Role
    name: str
    must_change_password: bool


class Tokens(TypedDict):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str
    user: TokenUser
    device_token: NotRequired[str]


class MfaChallenge(TypedDict):
    status: Literal["mfa_required"]
    challenge_id: str
    methods: list[Method]
    phone_hint: str
    expires_in: int


class SmsSent(TypedDict):
    resend_after: int
    expires_in: int


class ResetStarted(TypedDict):
    challenge_id: str
    phone_hint: str
    expires_in: int


class PhoneChangeStarted(TypedDict):
    challenge_id: str
    resend_after: int
    expires_in: int


class TotpSecret(TypedDict):
    secret: str
    otpauth_uri: str


def token_json(signed_in: SignedIn) -> Tokens:
    account, tokens = signed_in.account, signed_in.tokens
    answer = Tokens(access_token=tokens.access_token, token_type="Bearer", expires_in=tokens.expires_in,
                    refresh_token=tokens.refresh_token,
                    user=TokenUser(user_id=account.user_id, role=account.role, name=account.name,
                                   must_change_password=account.must_change_password))
    if signed_in.device_token:
        answer["device_token"] = signed_in.device_token
    return answer


def mfa_json(required: MfaRequired) -> MfaChallenge:
    return MfaChallenge(status="mfa_required", challenge_id=required.challenge_id,
                        methods=list(required.methods),  # type: ignore[arg-type]
                        phone_hint=required.phone_hint, expires_in=required.expires_in)


# -- views ----------------------------------------------------------------------------------------


@endpoint(response=Captcha)
def captcha() -> Captcha:
    """A new single-use captcha image (PNG as a data URI), valid 120 s."""
    image = deps.auth_service().captcha.new()
    return Captcha(captcha_id=image.captcha_id,
                   image="data:image/png;base64," + base64.b64encode(image.png).decode(),
                   expires_in=image.expires_in)


@endpoint(body=Login, response=(Tokens, MfaChallenge),
          errors=("invalid_credentials", "captcha_required", "captcha_invalid", "account_locked"))
def login(body: Login) -> Tokens | MfaChallenge:
    """Check the password: tokens on a trusted device, otherwise a second-factor challenge."""
    from chalicelib.domain.auth import MfaRequired

    result = deps.auth_service().sign_in.login(body.account, body.password, client_ip(),
                                               device_token=body.device_token, captcha_id=body.captcha_id,
                                               captcha_answer=body.captcha_answer)
    if isinstance(result, MfaRequired):
        return mfa_json(result)
    return token_json(result)


@endpoint(body=SendSms, response=SmsSent, status=202,
          errors=("challenge_expired", "method_unavailable", "rate_limited", "sms_unavailable"))
def send_sms(body: SendSms) -> SmsSent:
    """Text a sign-in, reset or phone-change code.

    Only texts actually sent are charged: if SNS fails, the quota and the resend window are given back and the
    answer is 503 `sms_unavailable`; retry at once.
    """
    deps.auth_service().codes.send(body.challenge_id, client_ip())
    return SmsSent(resend_after=RESEND_AFTER, expires_in=CODE_EXPIRES_IN)


@endpoint(body=Verify, response=Tokens, errors=("challenge_expired", "method_unavailable", "invalid_code"))
def verify(body: Verify) -> Tokens:
    """Complete a sign-in challenge with an SMS or authenticator code; optionally trust this device."""
    return token_json(deps.auth_service().sign_in.verify(body.challenge_id, body.method, body.code,
                                                         bool(body.trust_device)))


@endpoint(body=Refresh, response=Tokens, errors=("unauthenticated",))
def refresh(body: Refresh) -> Tokens:
    """New tokens for a refresh token (rotated: presenting a used one revokes the session)."""
    return token_json(deps.auth_service().account.refresh(body.refresh_token))


@endpoint(body=Logout, status=204)
def logout(body: Logout) -> None:
    """End the caller's session at once."""
    deps.auth_service().account.logout(principal())


@endpoint(body=ChangePassword, status=204, errors=("invalid_credentials", "account_locked", "weak_password"))
def change_password(body: ChangePassword) -> None:
    """Change the caller's password; the old one counts against the sign-in failures and lock (423)."""
    deps.auth_service().account.change_password(principal(), body.old_password, body.new_password)


@endpoint(body=StartReset, response=ResetStarted, status=202,
          errors=("captcha_invalid", "rate_limited"))
def start_reset(body: StartReset) -> ResetStarted:
    """Begin a password reset by SMS (same answer whether or not the account exists)."""
    started = deps.auth_service().recovery.start(body.account, client_ip(), body.captcha_id, body.captcha_answer)
    return ResetStarted(challenge_id=started.challenge_id, phone_hint=started.phone_hint,
                        expires_in=started.expires_in)


@endpoint(body=ConfirmReset, status=204, errors=("challenge_expired", "invalid_code", "weak_password"))
def confirm_reset(body: ConfirmReset) -> None:
    """Set a new password with the texted code; ends every session and clears any lock."""
    deps.auth_service().recovery.confirm(body.challenge_id, body.code, body.new_password)


@endpoint(body=StartPhoneChange, response=PhoneChangeStarted, status=202,
          errors=("invalid_credentials", "account_locked", "conflict", "method_unavailable", "rate_limited",
                  "sms_unavailable"))
def start_phone_change(body: StartPhoneChange) -> PhoneChangeStarted:
    """Re-authenticate with the password (counted like a sign-in, 423 while locked), then text the new number."""
    challenge_id = deps.auth_service().phone_change.start(principal(), body.new_phone, body.password, client_ip())
    return PhoneChangeStarted(challenge_id=challenge_id, resend_after=RESEND_AFTER, expires_in=CODE_EXPIRES_IN)


@endpoint(body=ConfirmPhoneChange, status=204, errors=("challenge_expired", "invalid_code"))
def confirm_phone_change(body: ConfirmPhoneChange) -> None:
    """Switch to the new phone number with the code texted to it (the old number is told)."""
    deps.auth_service().phone_change.confirm(principal(), body.challenge_id, body.code)


@endpoint(response=TotpSecret, errors=("conflict",))
def totp_setup() -> TotpSecret:
    """A new authenticator secret and its otpauth URI, pending until activated."""
    secret, uri = deps.auth_service().totp.setup(principal())
    return TotpSecret(secret=secret, otpauth_uri=uri)


@endpoint(body=TotpCode, status=204, errors=("conflict", "invalid_code", "rate_limited"))
def totp_activate(body: TotpCode) -> None:
    """Turn on the pending authenticator with one of its codes."""
    deps.auth_service().totp.activate(principal(), body.code)


@endpoint(body=TotpCode, status=204, errors=("not_found", "invalid_code", "rate_limited"))
def totp_remove(body: TotpCode) -> None:
    """Remove the caller's authenticator, proven with one of its codes."""
    deps.auth_service().totp.remove(principal(), body.code)
