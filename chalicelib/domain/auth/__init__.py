"""Signing in and staying signed in (API.md §3, phone change §5), split by factor.

- `password`: `CaptchaService` (single-use captchas) and `PasswordStep` (account lookup, attempt reservation,
  lockout, captcha demand, argon2, the same work for an unknown name; re-authentication).
- `challenges`: `ChallengeService` (expiry, 5 attempts, single use) and `SmsCodes` (texting codes within the
  resend window and quotas, giving back a text SNS could not send).
- `factors`: the `SecondFactor` protocol and its registry `SecondFactors` (SMS, TOTP; a passkey factor plugs in
  by registering), `TotpEnrollment`, `TrustedDevices`.
- `flows`: `SignIn` (login, verify), `Recovery` (password reset by SMS), `PhoneChange`, `AccountSessions`.
- `service`: `AuthService`, the parts side by side as `deps.auth_service()` builds them.

The rules as plain values (limits, texts, hashes) are in `domain/authflow.py`.
"""

from chalicelib.domain.auth.base import (
    AuthConfig,
    CaptchaImage,
    CaptchaInvalid,
    CaptchaRequired,
    ChallengeExpired,
    InvalidCode,
    MethodUnavailable,
    MfaRequired,
    SignedIn,
    SmsUnavailable,
)
from chalicelib.domain.auth.challenges import ChallengeService, SmsCodes
from chalicelib.domain.auth.factors import (
    SecondFactor,
    SecondFactors,
    SmsFactor,
    TotpEnrollment,
    TotpFactor,
    TrustedDevices,
)
from chalicelib.domain.auth.flows import AccountSessions, PhoneChange, Recovery, SignIn
from chalicelib.domain.auth.password import CaptchaService, PasswordStep
from chalicelib.domain.auth.service import AuthService

__all__ = [
    "AccountSessions", "AuthConfig", "AuthService", "CaptchaImage", "CaptchaInvalid", "CaptchaRequired",
    "CaptchaService", "ChallengeExpired", "ChallengeService", "InvalidCode", "MethodUnavailable", "MfaRequired",
    "PasswordStep", "PhoneChange", "Recovery", "SecondFactor", "SecondFactors", "SignIn", "SignedIn", "SmsCodes",
    "SmsFactor", "SmsUnavailable", "TotpEnrollment", "TotpFactor", "TrustedDevices",
]
