"""The password step of signing in (API.md §3): captcha, attempt reservation, lockout, argon2 verification."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from chalicelib.domain import authflow as policy
from chalicelib.domain import passwords
from chalicelib.domain.auth.base import (
    AuthConfig,
    CaptchaImage,
    CaptchaInvalid,
    CaptchaRequired,
    Captchas,
    Clock,
    Clocked,
    Counters,
    Keys,
    LoginState,
    record,
)
from chalicelib.domain.authflow import Attempt, AttemptRefused, CounterLimit
from chalicelib.domain.ids import new_id
from chalicelib.domain.model import Account
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.errors import DomainError, InvalidCredentials, Locked, RateLimited
from chalicelib.observability import count


class CaptchaService(Clocked):
    """Single-use image captchas: only a keyed hash of the answer is stored, and a check uses the captcha up."""

    def __init__(self, captchas: Captchas, keys: Keys, config: AuthConfig, render: Callable[[str], bytes],
                 clock: Clock = time.time):
        self._captchas = captchas
        self._keys = keys
        self._config = config
        self._render = render
        self._clock = clock

    def new(self) -> CaptchaImage:
        """A captcha valid 120 s (its answer fixed by configuration in tests and the local stack)."""
        captcha_id = new_id("cap")
        answer = self._config.captcha_test_answer or policy.captcha_text()
        self._captchas.create(captcha_id, policy.captcha_hash(self._keys("captcha"), captcha_id, answer),
                              self._now() + policy.CAPTCHA_SECONDS)
        return CaptchaImage(captcha_id, self._render(answer), policy.CAPTCHA_SECONDS)

    def check(self, captcha_id: str | None, answer: str | None) -> None:
        """Use the captcha up and raise unless `answer` solves it: `captcha_required` without one,
        `captcha_invalid` if wrong, expired, unknown or used before."""
        if not captcha_id or not answer:
            raise CaptchaRequired()
        stored = self._captchas.consume(captcha_id)
        if stored is None:
            raise CaptchaInvalid()
        answer_hash, expires_at = stored
        expected = policy.captcha_hash(self._keys("captcha"), captcha_id, answer)
        if expires_at <= self._now() or not secrets.compare_digest(answer_hash, expected):
            raise CaptchaInvalid()


class CaptchaGate:
    """The request's captcha, checked (and used up) only once a limit asks for it."""

    def __init__(self, captchas: CaptchaService, captcha_id: str | None, answer: str | None):
        self._captchas = captchas
        self._captcha_id = captcha_id
        self._answer = answer
        self.solved = False

    def solve(self) -> None:
        if not self.solved:
            self._captchas.check(self._captcha_id, self._answer)
            self.solved = True


class PasswordStep(Clocked):
    """Check a login name and password, under the account's failure counter and lock and the address's counter.

    Every attempt is reserved atomically before the password is checked (see docs/security.md), so no burst of
    requests gets more guesses than the limits allow. A login name no account has goes through the same steps
    (its own counter and lock, argon2 against a dummy hash): same answers, same work.
    """

    def __init__(self, accounts: AccountRepository, state: LoginState, counters: Counters, captcha: CaptchaService,
                 audit: AuditLog, config: AuthConfig, clock: Clock = time.time):
        self._accounts = accounts
        self._state = state
        self._counters = counters
        self._captcha = captcha
        self._audit = audit
        self._config = config
        self._clock = clock

    def sign_in(self, login: str, password: str, ip: str, captcha_id: str | None = None,
                captcha_answer: str | None = None) -> Account:
        """The account whose password this is; raises `InvalidCredentials`, `Locked` (423) or a captcha error.

        Past 3 failures of the account (or name), or past the configured failures from `ip` this hour, only a
        solved captcha lets the attempt through; the 5th failure locks for 15 minutes.
        """
        now = self._now()
        account = self._accounts.get_by_login(login)
        subject = policy.account_subject(account.user_id) if account else policy.name_subject(login)
        captcha = CaptchaGate(self._captcha, captcha_id, captcha_answer)
        attempt = self._reserve_login(subject, now, captcha)
        ip_key = self._reserve_ip(ip, now, captcha, attempt)
        ok = passwords.verify_password(account.password_hash if account else passwords.dummy_hash(), password)
        if account is None or not ok:
            self._failed(subject, attempt, "login.failed", "Wrong password")
            raise InvalidCredentials()
        self._state.settle_success(attempt)
        self._counters.release(ip_key)
        return account

    def reauthenticate(self, account: Account, password: str, what: str) -> None:
        """Check the caller's password for a sensitive change, under the same failure counter and lock as login."""
        now = self._now()
        subject = policy.account_subject(account.user_id)
        try:
            attempt = self._state.reserve_attempt(subject, now, policy.LOCK_AFTER_FAILURES,
                                                  policy.LOCK_AFTER_FAILURES, policy.LOCK_SECONDS)
        except AttemptRefused as refused:
            raise _locked(refused, now) from None
        if not passwords.verify_password(account.password_hash, password):
            self._failed(subject, attempt, "reauth.failed", f"Wrong password to {what}")
            raise InvalidCredentials("The password is incorrect.")
        self._state.settle_success(attempt)

    def _reserve_login(self, subject: str, now: int, captcha: CaptchaGate) -> Attempt:
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
            raise _locked(refused, now) from None

    def _reserve_ip(self, ip: str, now: int, captcha: CaptchaGate, attempt: Attempt) -> str:
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
        record(self._audit, audit_subject, action, summary)
        count("LoginFailed")
        if attempt.lock_taken is not None:
            record(self._audit, audit_subject, "account.locked", "Locked for 15 minutes after 5 failed sign-ins")
            count("AccountLocked")


def _locked(refused: AttemptRefused, now: int) -> Locked:
    count("LoginLocked")
    return Locked(details={"retry_after": max(1, (refused.locked_until or now + 1) - now)})
