"""What the authentication services share: their errors, ports, answers and two small helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.authflow import Attempt, Challenge, CounterLimit
from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.model import Account, AuditEvent
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.domain.sessions import TokenPair
from chalicelib.errors import DomainError, Unauthenticated, Unavailable, ValidationFailed


class CaptchaRequired(ValidationFailed):
    code = "captcha_required"
    message = "Solve the captcha to continue."


class CaptchaInvalid(ValidationFailed):
    code = "captcha_invalid"
    message = "The captcha answer is wrong or the captcha has expired."


class InvalidCode(Unauthenticated):
    code = "invalid_code"
    message = "The code is not correct."


class ChallengeExpired(Unauthenticated):
    code = "challenge_expired"
    message = "This verification has expired; sign in again."


class MethodUnavailable(DomainError):
    code = "method_unavailable"
    message = "This verification method is not available for the account."


class SmsUnavailable(Unavailable):
    code = "sms_unavailable"
    message = "The text message could not be sent; nothing was counted, try again."


# -- ports --------------------------------------------------------------------------------------------


class LoginState(Protocol):
    def reserve_attempt(self, subject: str, now: int, allowed: int, lock_after: int,
                        lock_seconds: int) -> Attempt: ...
    def settle_success(self, attempt: Attempt) -> None: ...
    def cancel_attempt(self, attempt: Attempt, lock_after: int) -> None: ...
    def set_totp_pending(self, user_id: str, sealed: str | None) -> None: ...
    def activate_totp(self, user_id: str, sealed: str, step: int) -> None: ...
    def accept_totp_step(self, user_id: str, step: int) -> bool: ...
    def clear_totp(self, user_id: str) -> None: ...
    def distrust_devices(self, user_id: str, now: int) -> None: ...


class Challenges(Protocol):
    def create(self, challenge: Challenge) -> None: ...
    def get(self, challenge_id: str) -> Challenge | None: ...
    def send_code(self, challenge_id: str, code_hash: str, now: int, code_ttl: int, resend_after: int,
                  limits: list[CounterLimit]) -> None: ...
    def unsend(self, challenge_id: str, sent_at: int, previous_sent_at: int, limits: list[CounterLimit]) -> None: ...
    def take_attempt(self, challenge_id: str, max_attempts: int) -> int | None: ...
    def consume(self, challenge_id: str) -> bool: ...


class Counters(Protocol):
    def hit(self, limit: CounterLimit, now: int) -> None: ...
    def release(self, key: str) -> None: ...
    def add(self, key: str, window_ends_at: int) -> int: ...
    def get(self, key: str, now: int) -> int: ...


class Captchas(Protocol):
    def create(self, captcha_id: str, answer_hash: str, expires_at: int) -> None: ...
    def consume(self, captcha_id: str) -> tuple[str, int] | None: ...


class Devices(Protocol):
    def create(self, device_hash: str, user_id: str, created_at: int, expires_at: int) -> None: ...
    def get(self, device_hash: str) -> tuple[str, int, int] | None: ...


class Sms(Protocol):
    def allowed(self, phone: str) -> bool: ...
    def send(self, phone: str, text: str) -> str: ...


class SecretBox(Protocol):
    def seal(self, plaintext: str, context: dict[str, str]) -> str: ...
    def open(self, sealed: str, context: dict[str, str]) -> str: ...


Keys = Callable[[str], bytes]  # a long-lived key by purpose ("captcha", "sms-code", "reset-hint")
Clock = Callable[[], float]  # epoch seconds


@dataclass(frozen=True)
class AuthConfig:
    sms_per_ip_per_hour: int
    ip_failures_before_captcha: int
    captcha_test_answer: str | None


# -- answers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    tokens: TokenPair
    account: Account
    device_token: str | None = None


@dataclass(frozen=True)
class MfaRequired:
    challenge_id: str
    methods: tuple[str, ...]
    phone_hint: str
    expires_in: int


@dataclass(frozen=True)
class CaptchaImage:
    captcha_id: str
    png: bytes
    expires_in: int


# -- helpers ------------------------------------------------------------------------------------------


class Clocked:
    """A service that reads the time from its `_clock` (one attribute, so a test can stop or move it)."""

    _clock: Clock

    def _now(self) -> int:
        return int(self._clock())


def record(audit: AuditLog, user_id: str, action: str, summary: str, ref: str | None = None) -> None:
    """Write one audit event, stamped now."""
    audit.record(AuditEvent(user_id, iso(utcnow()), action, summary, ref))


def account_for(accounts: AccountRepository, user_id: str | None) -> Account:
    """The account a challenge or session names; gone (or none named) answers like a dead challenge."""
    account = accounts.get(user_id) if user_id else None
    if account is None:
        raise ChallengeExpired()
    return account
