"""`AuthService`: the authentication services of one container, side by side (built by `deps.auth_service()`).

It holds no rules of its own. Views call its parts (`deps.auth_service().sign_in.login(...)`). The few methods
and `_`-attributes below keep the seams that integration tests written against the former single class use:
setting `_clock`, `_config`, `_accounts`, `_challenges` or `_sms` on it sets it on every part that holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from chalicelib.domain.auth.base import CaptchaImage, MfaRequired, SignedIn
from chalicelib.domain.auth.challenges import ChallengeService, SmsCodes
from chalicelib.domain.auth.factors import SecondFactors, TotpEnrollment, TrustedDevices
from chalicelib.domain.auth.flows import AccountSessions, PhoneChange, Recovery, SignIn
from chalicelib.domain.auth.password import CaptchaService, PasswordStep
from chalicelib.domain.model import Principal


class _Shared:
    """A collaborator several parts hold: reading gives it, setting it replaces it in every part holding it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, service: Any, owner: type | None = None) -> Any:
        if service is None:
            return self
        return next(getattr(part, self._name) for part in service.parts() if hasattr(part, self._name))

    def __set__(self, service: Any, value: Any) -> None:
        for part in service.parts():
            if hasattr(part, self._name):
                setattr(part, self._name, value)


@dataclass
class AuthService:
    captcha: CaptchaService
    password: PasswordStep
    challenges: ChallengeService
    codes: SmsCodes
    factors: SecondFactors
    devices: TrustedDevices
    sign_in: SignIn
    totp: TotpEnrollment
    recovery: Recovery
    phone_change: PhoneChange
    account: AccountSessions

    _clock = _Shared()
    _config = _Shared()
    _accounts = _Shared()
    _challenges = _Shared()
    _sms = _Shared()

    def parts(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]

    # -- the former single class's entry points still used by integration tests ------------------------------

    def new_captcha(self) -> CaptchaImage:
        return self.captcha.new()

    def _check_captcha(self, captcha_id: str | None, answer: str | None) -> None:
        self.captcha.check(captcha_id, answer)

    def login(self, login: str, password: str, ip: str, *, device_token: str | None = None,
              captcha_id: str | None = None, captcha_answer: str | None = None) -> SignedIn | MfaRequired:
        return self.sign_in.login(login, password, ip, device_token=device_token, captcha_id=captcha_id,
                                  captcha_answer=captcha_answer)

    def verify(self, challenge_id: str, method: str, code: str, trust_device: bool = False) -> SignedIn:
        return self.sign_in.verify(challenge_id, method, code, trust_device)

    def confirm_reset(self, challenge_id: str, code: str, new_password: str) -> None:
        self.recovery.confirm(challenge_id, code, new_password)

    def confirm_phone_change(self, caller: Principal, challenge_id: str, code: str) -> None:
        self.phone_change.confirm(caller, challenge_id, code)
