"""Signing in and staying signed in (API.md §3): password, captcha, lockout, SMS/TOTP codes, sessions, resets."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain import authflow as policy
from chalicelib.domain import passwords
from chalicelib.domain.authflow import Attempt, AttemptRefused, Challenge, CounterLimit
from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.domain.sessions import SessionService, TokenPair
from chalicelib.errors import (
    Conflict,
    DomainError,
    InvalidCredentials,
    Locked,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from chalicelib.observability import count, logger, mask_phone


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


@dataclass(frozen=True)
class AuthConfig:
    sms_per_ip_per_hour: int
    ip_failures_before_captcha: int
    captcha_test_answer: str | None


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


class AuthService:
    def __init__(self, *, accounts: AccountRepository, state: LoginState, sessions: SessionService,
                 challenges: Challenges, counters: Counters, captchas: Captchas, devices: Devices, sms: Sms,
                 box: SecretBox, audit: AuditLog, keys: Callable[[str], bytes], config: AuthConfig,
                 render_captcha: Callable[[str], bytes], clock: Callable[[], float] = time.time):
        self._accounts = accounts
        self._state = state
        self._sessions = sessions
        self._challenges = challenges
        self._counters = counters
        self._captchas = captchas
        self._devices = devices
        self._sms = sms
        self._box = box
        self._audit = audit
        self._keys = keys
        self._config = config
        self._render = render_captcha
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    # -- captcha ----------------------------------------------------------------------------------

    def new_captcha(self) -> CaptchaImage:
        """A single-use image captcha, valid 120 s; only its keyed hash is stored."""
        captcha_id = new_id("cap")
        answer = self._config.captcha_test_answer or policy.captcha_text()
        self._captchas.create(captcha_id, policy.captcha_hash(self._keys("captcha"), captcha_id, answer),
                              self._now() + policy.CAPTCHA_SECONDS)
        return CaptchaImage(captcha_id, self._render(answer), policy.CAPTCHA_SECONDS)

    def _check_captcha(self, captcha_id: str | None, answer: str | None) -> None:
        if not captcha_id or not answer:
            raise CaptchaRequired()
        stored = self._captchas.consume(captcha_id)
        if stored is None:
            raise CaptchaInvalid()
        answer_hash, expires_at = stored
        expected = policy.captcha_hash(self._keys("captcha"), captcha_id, answer)
        if expires_at <= self._now() or not secrets.compare_digest(answer_hash, expected):
            raise CaptchaInvalid()

    # -- login ------------------------------------------------------------------------------------

    def login(self, login: str, password: str, ip: str, *, device_token: str | None = None,
              captcha_id: str | None = None, captcha_answer: str | None = None) -> SignedIn | MfaRequired:
        """The password step. A trusted device signs in at once; otherwise a second factor is required.

        Every attempt is reserved atomically before the password is checked (see docs/security.md), and an
        unknown login name goes through the same steps as a real account: same answers, same work.
        """
        now = self._now()
        account = self._accounts.get_by_login(login)
        subject = policy.account_subject(account.user_id) if account else policy.name_subject(login)
        captcha = _CaptchaGate(self, captcha_id, captcha_answer)
        attempt = self._reserve_login(subject, now, captcha)
        ip_key = self._reserve_ip(ip, now, captcha, attempt)
        ok = passwords.verify_password(account.password_hash if account else passwords.dummy_hash(), password)
        if account is None or not ok:
            self._failed(subject, attempt, "login.failed", "Wrong password")
            raise InvalidCredentials()
        self._state.settle_success(attempt)
        self._counters.release(ip_key)
        if device_token and self._device_trusted(account, device_token, now):
            return self._signed_in(account, "Signed in on a trusted device")
        methods = ("sms", "totp") if account.totp_enabled else ("sms",)
        challenge = Challenge(new_id("ch"), "login", account.user_id, account.phone, methods,
                              now + policy.CHALLENGE_SECONDS, quota_key=account.phone)
        self._challenges.create(challenge)
        return MfaRequired(challenge.challenge_id, methods, mask_phone(account.phone), policy.CHALLENGE_SECONDS)

    def _reserve_login(self, subject: str, now: int, captcha: _CaptchaGate) -> Attempt:
        """One attempt for the account (or name): 423 while locked; past 3 failures only with a solved captcha."""
        try:
            try:
                return self._state.reserve_attempt(subject, now, policy.CAPTCHA_AFTER_FAILURES,
                                                   policy.LOCK_AFTER_FAILURES, policy.LOCK_SECONDS)
            except AttemptRefused as refused:
                if refused.locked_until is not None:
                    raise
                captcha.solve()
                return self._state.reserve_attempt(subject, now, policy.LOCK_AFTER_FAILURES,
                                                   policy.LOCK_AFTER_FAILURES, policy.LOCK_SECONDS)
        except AttemptRefused as refused:
            count("LoginLocked")
            raise Locked(details={"retry_after": max(1, (refused.locked_until or now + 1) - now)}) from None

    def _reserve_ip(self, ip: str, now: int, captcha: _CaptchaGate, attempt: Attempt) -> str:
        """Count the attempt against its source address; past the threshold only with a solved captcha."""
        hour, hour_end = policy.hour_window(now)
        key = f"login-fail-ip#{ip}#{hour}"
        if not captcha.solved:
            try:
                self._counters.hit(CounterLimit(key, self._config.ip_failures_before_captcha, hour_end), now)
                return key
            except RateLimited:
                try:
                    captcha.solve()
                except DomainError:
                    self._state.cancel_attempt(attempt, policy.LOCK_AFTER_FAILURES)
                    raise
        self._counters.add(key, hour_end)
        return key

    def _failed(self, subject: str, attempt: Attempt, action: str, summary: str) -> None:
        """Record a wrong password (already counted by its reservation); the audit subject of an unknown name is
        its hash, so both cases write the same."""
        audit_subject = subject.partition("#")[2] if subject.startswith("user#") else subject
        self._record(audit_subject, action, summary)
        count("LoginFailed")
        if attempt.lock_taken is not None:
            self._record(audit_subject, "account.locked", "Locked for 15 minutes after 5 failed sign-ins")
            count("AccountLocked")

    def _reauthenticate(self, account: Account, password: str, what: str) -> None:
        """Check the caller's password for a sensitive change, under the same failure counter and lock as login."""
        now = self._now()
        subject = policy.account_subject(account.user_id)
        try:
            attempt = self._state.reserve_attempt(subject, now, policy.LOCK_AFTER_FAILURES,
                                                  policy.LOCK_AFTER_FAILURES, policy.LOCK_SECONDS)
        except AttemptRefused as refused:
            count("LoginLocked")
            retry_after = max(1, (refused.locked_until or now + 1) - now)
            raise Locked(details={"retry_after": retry_after}) from None
        if not passwords.verify_password(account.password_hash, password):
            self._failed(subject, attempt, "reauth.failed", f"Wrong password to {what}")
            raise InvalidCredentials("The password is incorrect.")
        self._state.settle_success(attempt)

    def _device_trusted(self, account: Account, token: str, now: int) -> bool:
        found = self._devices.get(policy.device_hash(token))
        if found is None:
            return False
        user_id, created_at, expires_at = found
        return (user_id == account.user_id and expires_at > now
                # strictly after: a device trusted in the same second as a reset is not known to be later
                and created_at > (account.devices_valid_after or -1))

    def _signed_in(self, account: Account, summary: str, device_token: str | None = None) -> SignedIn:
        tokens = self._sessions.start(account)
        self._record(account.user_id, "login", summary, tokens.session_id)
        count("LoginSucceeded")
        return SignedIn(tokens, account, device_token)

    # -- second factor ----------------------------------------------------------------------------

    def send_code(self, challenge_id: str, ip: str) -> None:
        """Text a fresh code for a live challenge, within every limit; a refused send changes nothing."""
        now = self._now()
        challenge = self._live(challenge_id, now)
        if challenge.phone is not None and not self._sms.allowed(challenge.phone):
            raise MethodUnavailable("Text messages cannot be sent to this number.")
        code = policy.new_code()
        limits = policy.sms_limits(challenge.quota_key or challenge.phone, ip, now,
                                   self._config.sms_per_ip_per_hour, challenge.purpose)
        self._challenges.send_code(challenge_id, policy.code_hash(self._keys("sms-code"), challenge_id, code), now,
                                   policy.CODE_SECONDS, policy.RESEND_SECONDS, limits)
        if challenge.phone is None:  # a decoy (reset of an unknown account) never sends anything
            return
        try:
            self._sms.send(challenge.phone, policy.sms_code_text(code))
        except Exception:  # noqa: BLE001 - any SNS or network failure; undone, then a clean 503
            # Only texts actually sent are charged: give back the quota and the resend window.
            logger.exception("sms send failed", extra={"challenge_id": challenge_id})
            count("SmsFailed")
            self._challenges.unsend(challenge_id, now, challenge.last_sent_at, limits)
            raise SmsUnavailable() from None

    def verify(self, challenge_id: str, method: str, code: str, trust_device: bool = False) -> SignedIn:
        """Complete a login challenge with an SMS or TOTP code."""
        now = self._now()
        challenge = self._live(challenge_id, now, purpose="login")
        account = self._account(challenge.user_id)
        if method not in challenge.methods:
            raise MethodUnavailable()
        attempt = self._take_attempt(challenge)
        ok = self._code_ok(challenge, code, now) if method == "sms" else self._totp_ok(account, code, now)
        if not ok:
            self._wrong(attempt)
        if not self._challenges.consume(challenge_id):
            raise ChallengeExpired()
        device_token = None
        if trust_device:
            device_token = secrets.token_urlsafe(32)
            self._devices.create(policy.device_hash(device_token), account.user_id, now,
                                 now + policy.DEVICE_TRUST_SECONDS)
        return self._signed_in(account, f"Signed in with {method.upper()} code", device_token)

    def _live(self, challenge_id: str, now: int, purpose: str | None = None) -> Challenge:
        challenge = self._challenges.get(challenge_id)
        if challenge is None or (purpose and challenge.purpose != purpose) or challenge.dead(now):
            raise ChallengeExpired()
        return challenge

    def _code_ok(self, challenge: Challenge, code: str, now: int) -> bool:
        if challenge.code_hash is None or not challenge.code_expires_at or challenge.code_expires_at <= now:
            return False
        expected = policy.code_hash(self._keys("sms-code"), challenge.challenge_id, code)
        return secrets.compare_digest(challenge.code_hash, expected)

    def _totp_ok(self, account: Account, code: str, now: int) -> bool:
        if not account.totp_secret:
            return False
        step = self._matching_step(self._box.open(account.totp_secret, {"user_id": account.user_id}), code, now)
        return step is not None and self._state.accept_totp_step(account.user_id, step)

    @staticmethod
    def _matching_step(secret: str, code: str, now: int) -> int | None:
        """The 30-second step (current ±1) whose code equals `code`, if any."""
        import pyotp

        totp = pyotp.TOTP(secret)
        for offset in (0, -1, 1):
            at = now + offset * totp.interval
            if secrets.compare_digest(totp.at(at), code):
                return totp.timecode(at)
        return None

    def _take_attempt(self, challenge: Challenge) -> int:
        """Reserve one code check on the challenge before comparing: at most 5 codes are ever checked."""
        attempt = self._challenges.take_attempt(challenge.challenge_id, policy.MAX_CODE_ATTEMPTS)
        if attempt is None:
            count("CodeRejected")
            raise ChallengeExpired()
        return attempt

    @staticmethod
    def _wrong(attempt: int) -> None:
        count("CodeRejected")
        if attempt >= policy.MAX_CODE_ATTEMPTS:
            raise ChallengeExpired()
        raise InvalidCode()

    # -- password reset -----------------------------------------------------------------------------

    def start_reset(self, login: str, ip: str, captcha_id: str | None, captcha_answer: str | None) -> MfaRequired:
        """Begin an SMS password reset. The answer is the same whether or not the account exists."""
        self._check_captcha(captcha_id, captcha_answer)
        now = self._now()
        account = self._accounts.get_by_login(login)
        # An unknown name is charged to the same reset quota (keyed by the name) with the same answers.
        quota_key = account.phone if account else policy.name_subject(login)
        challenge = Challenge(new_id("ch"), "reset", account.user_id if account else None,
                              account.phone if account else None, ("sms",), now + policy.CHALLENGE_SECONDS,
                              quota_key=quota_key)
        self._challenges.create(challenge)
        hint = mask_phone(account.phone) if account else policy.fake_phone_hint(self._keys("reset-hint"), login)
        # Not on the allow-list, or SNS failed (the send was undone, `/auth/sms` resends): the answer is the same
        # 202 as for an unknown account, so neither tells whether the account exists.
        with contextlib.suppress(MethodUnavailable, SmsUnavailable):
            self.send_code(challenge.challenge_id, ip)
        self._record(account.user_id if account else quota_key, "password.reset_requested",
                     "Password reset requested by SMS")
        return MfaRequired(challenge.challenge_id, ("sms",), hint, policy.CHALLENGE_SECONDS)

    def confirm_reset(self, challenge_id: str, code: str, new_password: str) -> None:
        """Set a new password with the texted code; ends every session and clears any lock."""
        now = self._now()
        challenge = self._live(challenge_id, now, purpose="reset")
        attempt = self._take_attempt(challenge)
        if challenge.user_id is None or not self._code_ok(challenge, code, now):
            self._wrong(attempt)
        account = self._account(challenge.user_id)
        passwords.check_policy(new_password, account=account.account, phone=account.phone)
        if not self._challenges.consume(challenge_id):
            raise ChallengeExpired()
        self._accounts.set_password(account.user_id, passwords.hash_password(new_password), must_change=False)
        self._accounts.clear_lock(account.user_id)
        self._state.distrust_devices(account.user_id, now)
        self._sessions.end_all(account.user_id)
        self._record(account.user_id, "password.reset", "Password reset by SMS code")

    # -- phone change ------------------------------------------------------------------------------

    def start_phone_change(self, caller: Principal, new_phone: str, password: str, ip: str) -> str:
        """Re-authenticate with the password and text a code to the new number; returns the challenge id."""
        now = self._now()
        account = self._account(caller.user_id)
        self._reauthenticate(account, password, "change the phone number")
        if new_phone == account.phone or self._accounts.phone_taken(new_phone):
            raise Conflict("The phone number is already in use.", details={"fields": ["new_phone"]})
        if not self._sms.allowed(new_phone):
            raise MethodUnavailable("Text messages cannot be sent to this number.")
        challenge = Challenge(new_id("ch"), "phone_change", account.user_id, new_phone, ("sms",),
                              now + policy.CHALLENGE_SECONDS, quota_key=new_phone)
        self._challenges.create(challenge)
        self.send_code(challenge.challenge_id, ip)
        return challenge.challenge_id

    def confirm_phone_change(self, caller: Principal, challenge_id: str, code: str) -> None:
        """Switch to the verified new number and tell the old number about it."""
        now = self._now()
        challenge = self._live(challenge_id, now, purpose="phone_change")
        if challenge.user_id != caller.user_id or challenge.phone is None:
            raise ChallengeExpired()
        attempt = self._take_attempt(challenge)
        if not self._code_ok(challenge, code, now):
            self._wrong(attempt)
        if not self._challenges.consume(challenge_id):
            raise ChallengeExpired()
        account = self._account(caller.user_id)
        self._accounts.change_phone(account.user_id, account.phone, challenge.phone)
        self._record(account.user_id, "phone.changed", f"Phone changed to {mask_phone(challenge.phone)}")
        if self._sms.allowed(account.phone):
            self._sms.send(account.phone, policy.phone_changed_text(mask_phone(challenge.phone)))

    # -- sessions ---------------------------------------------------------------------------------

    def refresh(self, refresh_token: str) -> SignedIn:
        tokens, user_id = self._sessions.refresh(refresh_token)
        return SignedIn(tokens, self._account(user_id))

    def logout(self, caller: Principal) -> None:
        self._sessions.end(caller.session_id)
        self._record(caller.user_id, "logout", "Signed out", caller.session_id)

    def change_password(self, caller: Principal, old_password: str, new_password: str) -> None:
        """Change the caller's password; every other session of the account ends."""
        account = self._account(caller.user_id)
        self._reauthenticate(account, old_password, "change the password")
        passwords.check_policy(new_password, account=account.account, phone=account.phone)
        self._accounts.set_password(account.user_id, passwords.hash_password(new_password), must_change=False)
        self._sessions.end_all(account.user_id, keep=caller.session_id)
        self._sessions.clear_must_change(caller.session_id)
        self._record(account.user_id, "password.changed", "Password changed")

    # -- TOTP -------------------------------------------------------------------------------------

    def totp_setup(self, caller: Principal) -> tuple[str, str]:
        """A new authenticator secret (pending until activated with a code): (secret, otpauth URI)."""
        import pyotp

        account = self._account(caller.user_id)
        if account.totp_enabled:
            raise Conflict("An authenticator is already active; remove it first.")
        secret = pyotp.random_base32()
        self._state.set_totp_pending(account.user_id, self._box.seal(secret, {"user_id": account.user_id}))
        uri = pyotp.TOTP(secret).provisioning_uri(name=account.account, issuer_name=policy.TOTP_ISSUER)
        return secret, uri

    def totp_activate(self, caller: Principal, code: str) -> None:
        account = self._account(caller.user_id)
        if not account.totp_pending_secret:
            raise Conflict("Set up an authenticator first.")
        secret = self._box.open(account.totp_pending_secret, {"user_id": account.user_id})
        key = self._take_totp_attempt(account.user_id)
        step = self._matching_step(secret, code, self._now())
        if step is None:
            count("CodeRejected")
            raise InvalidCode()
        self._counters.release(key)
        self._state.activate_totp(account.user_id, self._box.seal(secret, {"user_id": account.user_id}), step)
        self._record(account.user_id, "totp.enabled", "Authenticator app enabled")

    def totp_remove(self, caller: Principal, code: str) -> None:
        account = self._account(caller.user_id)
        if not account.totp_enabled:
            raise NotFound("No authenticator is active.")
        key = self._take_totp_attempt(account.user_id)
        if not self._totp_ok(account, code, self._now()):
            count("CodeRejected")
            raise InvalidCode()
        self._counters.release(key)
        self._state.clear_totp(account.user_id)
        self._record(account.user_id, "totp.disabled", "Authenticator app removed")

    def _take_totp_attempt(self, user_id: str) -> str:
        """At most 5 authenticator codes checked per account per 15 minutes outside a challenge (a stolen token
        cannot guess its way to removing the authenticator); a right code gives its attempt back."""
        now = self._now()
        window = now - now % policy.LOCK_SECONDS
        limit = CounterLimit(f"totp-try#{user_id}#{window}", policy.MAX_CODE_ATTEMPTS, window + policy.LOCK_SECONDS)
        self._counters.hit(limit, now)
        return limit.key

    # -- helpers ----------------------------------------------------------------------------------

    def _account(self, user_id: str | None) -> Account:
        account = self._accounts.get(user_id) if user_id else None
        if account is None:
            raise ChallengeExpired()
        return account

    def _record(self, user_id: str, action: str, summary: str, ref: str | None = None) -> None:
        self._audit.record(AuditEvent(user_id, iso(utcnow()), action, summary, ref))




class _CaptchaGate:
    """The request's captcha, checked (and used up) only once a limit asks for it."""

    def __init__(self, service: AuthService, captcha_id: str | None, answer: str | None):
        self._service = service
        self._captcha_id = captcha_id
        self._answer = answer
        self.solved = False

    def solve(self) -> None:
        if not self.solved:
            self._service._check_captcha(self._captcha_id, self._answer)
            self.solved = True
