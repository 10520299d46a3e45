"""`AuthService`: the authentication services of one container, side by side (built by `deps.auth_service()`).

It holds no rules of its own. Views call its parts (`deps.auth_service().sign_in.login(...)`); the few methods
below are shortcuts to them that the integration tests use. Tests replace a collaborator with
`deps.rebuilt("auth_service", accounts=...)` and the clock with `deps.override(epoch_clock=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.auth.base import CaptchaImage, MfaRequired, SignedIn
from chalicelib.domain.auth.challenges import ChallengeService, SmsCodes
from chalicelib.domain.auth.factors import SecondFactors, TotpEnrollment, TrustedDevices
from chalicelib.domain.auth.flows import AccountSessions, PhoneChange, Recovery, SignIn
from chalicelib.domain.auth.password import CaptchaService, PasswordStep
from chalicelib.domain.model import Principal


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
