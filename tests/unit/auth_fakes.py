"""In-memory stand-ins for the authentication ports (they keep state and enforce the same conditions as DynamoDB)."""

from __future__ import annotations

import re
from dataclasses import replace

from chalicelib.domain.authflow import Attempt, AttemptRefused, Challenge, CounterLimit
from chalicelib.errors import RateLimited
from tests.unit.fakes import FakeAccounts


class Clock:
    def __init__(self, now: float = 1_800_000_000):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCounters:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def hit(self, limit: CounterLimit, now: int) -> None:
        if self.hits.get(limit.key, 0) >= limit.limit:
            raise RateLimited(max(1, limit.window_ends_at - now))
        self.hits[limit.key] = self.hits.get(limit.key, 0) + 1

    def release(self, key: str) -> None:
        if self.hits.get(key, 0) > 0:
            self.hits[key] -= 1

    def add(self, key: str, window_ends_at: int) -> int:
        self.hits[key] = self.hits.get(key, 0) + 1
        return self.hits[key]

    def get(self, key: str, now: int) -> int:
        return self.hits.get(key, 0)


class FakeLoginState:
    """Failure counters and locks per subject; TOTP and device-trust fields on the fake accounts."""

    def __init__(self, accounts: FakeAccounts):
        self._accounts = accounts
        self.names: dict[str, tuple[int, int | None]] = {}  # unknown login names: (failures, locked until)

    def _get(self, subject: str) -> tuple[int, int | None]:
        kind, _, ident = subject.partition("#")
        if kind == "user":  # an account's state is on the account, as in DynamoDB (so clear_lock clears it)
            account = self._accounts.items[ident]
            return account.failed_logins, account.locked_until
        return self.names.get(subject, (0, None))

    def _set(self, subject: str, failures: int, locked_until: int | None) -> None:
        kind, _, ident = subject.partition("#")
        if kind == "user":
            account = self._accounts.items[ident]
            account.failed_logins, account.locked_until = failures, locked_until
        else:
            self.names[subject] = (failures, locked_until)

    def reserve_attempt(self, subject: str, now: int, allowed: int, lock_after: int, lock_seconds: int) -> Attempt:
        failures, locked_until = self._get(subject)
        if locked_until is not None and locked_until > now:
            raise AttemptRefused(locked_until)
        if failures < min(allowed, lock_after - 1):
            self._set(subject, failures + 1, locked_until)
            return Attempt(subject)
        if allowed >= lock_after and failures == lock_after - 1:
            self._set(subject, 0, now + lock_seconds)
            return Attempt(subject, lock_taken=now + lock_seconds)
        raise AttemptRefused(None)

    def settle_success(self, attempt: Attempt) -> None:
        _, locked_until = self._get(attempt.subject)
        taken = attempt.lock_taken is not None and locked_until == attempt.lock_taken
        self._set(attempt.subject, 0, None if taken else locked_until)

    def cancel_attempt(self, attempt: Attempt, lock_after: int) -> None:
        failures, locked_until = self._get(attempt.subject)
        if attempt.lock_taken is not None:
            if locked_until == attempt.lock_taken:
                self._set(attempt.subject, lock_after - 1, None)
        elif failures > 0:
            self._set(attempt.subject, failures - 1, locked_until)

    def set_totp_pending(self, user_id: str, sealed: str | None) -> None:
        self._accounts.items[user_id].totp_pending_secret = sealed

    def activate_totp(self, user_id: str, sealed: str, step: int) -> None:
        account = self._accounts.items[user_id]
        account.totp_secret, account.totp_pending_secret, account.totp_last_step = sealed, None, step

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        account = self._accounts.items[user_id]
        if account.totp_last_step is not None and account.totp_last_step >= step:
            return False
        account.totp_last_step = step
        return True

    def clear_totp(self, user_id: str) -> None:
        account = self._accounts.items[user_id]
        account.totp_secret = account.totp_pending_secret = account.totp_last_step = None

    def distrust_devices(self, user_id: str, now: int) -> None:
        self._accounts.items[user_id].devices_valid_after = now


class FakeChallenges:
    def __init__(self, counters: FakeCounters):
        self._counters = counters
        self.items: dict[str, Challenge] = {}

    def create(self, challenge: Challenge) -> None:
        assert challenge.challenge_id not in self.items
        self.items[challenge.challenge_id] = challenge

    def get(self, challenge_id: str) -> Challenge | None:
        return self.items.get(challenge_id)

    def send_code(self, challenge_id: str, code_hash: str, now: int, code_ttl: int, resend_after: int,
                  limits: list[CounterLimit]) -> None:
        challenge = self.items[challenge_id]
        if challenge.used or challenge.last_sent_at > now - resend_after:
            raise RateLimited(max(1, resend_after - (now - challenge.last_sent_at)))
        blocked = [lim for lim in limits if self._counters.hits.get(lim.key, 0) >= lim.limit]
        if blocked:
            raise RateLimited(max(b.window_ends_at - now for b in blocked))
        for limit in limits:
            self._counters.hit(limit, now)
        self.items[challenge_id] = replace(challenge, code_hash=code_hash, code_expires_at=now + code_ttl,
                                           last_sent_at=now)

    def unsend(self, challenge_id: str, sent_at: int, previous_sent_at: int, limits: list[CounterLimit]) -> None:
        challenge = self.items[challenge_id]
        if challenge.last_sent_at != sent_at:
            return
        self.items[challenge_id] = replace(challenge, last_sent_at=previous_sent_at, code_hash=None,
                                           code_expires_at=None)
        for limit in limits:
            self._counters.release(limit.key)

    def take_attempt(self, challenge_id: str, max_attempts: int) -> int | None:
        challenge = self.items.get(challenge_id)
        if challenge is None or challenge.used or challenge.attempts >= max_attempts:
            return None
        self.items[challenge_id] = replace(challenge, attempts=challenge.attempts + 1)
        return challenge.attempts + 1

    def consume(self, challenge_id: str) -> bool:
        challenge = self.items[challenge_id]
        if challenge.used:
            return False
        self.items[challenge_id] = replace(challenge, used=True)
        return True


class FakeCaptchas:
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, int, bool]] = {}

    def create(self, captcha_id: str, answer_hash: str, expires_at: int) -> None:
        self.items[captcha_id] = (answer_hash, expires_at, False)

    def consume(self, captcha_id: str) -> tuple[str, int] | None:
        found = self.items.get(captcha_id)
        if found is None or found[2]:
            return None
        self.items[captcha_id] = (found[0], found[1], True)
        return found[0], found[1]


class FakeDevices:
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, int, int]] = {}

    def create(self, device_hash: str, user_id: str, created_at: int, expires_at: int) -> None:
        self.items[device_hash] = (user_id, created_at, expires_at)

    def get(self, device_hash: str) -> tuple[str, int, int] | None:
        return self.items.get(device_hash)


class FakeAuthSms:
    """A text gateway that records what it sent; `blocked` numbers are not allowed, `failing` makes sends fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.blocked: set[str] = set()
        self.failing = False

    def allowed(self, phone: str) -> bool:
        return phone not in self.blocked

    def send(self, phone: str, text: str) -> str:
        if self.failing:
            raise ConnectionError("SNS is unreachable")
        self.sent.append((phone, text))
        return f"m{len(self.sent)}"

    def to(self, phone: str) -> list[str]:
        return [text for number, text in self.sent if number == phone]

    def last_code(self, phone: str) -> str:
        match = re.search(r"验证码(\d{6})", self.to(phone)[-1])
        assert match, self.to(phone)[-1]
        return match.group(1)


class FakeBox:
    """Sealing bound to its context: opening with another context fails, like KMS encryption context."""

    def seal(self, plaintext: str, context: dict[str, str]) -> str:
        return f"sealed:{sorted(context.items())}:{plaintext}"

    def open(self, sealed: str, context: dict[str, str]) -> str:
        prefix = f"sealed:{sorted(context.items())}:"
        if not sealed.startswith(prefix):
            raise ValueError("wrong context")
        return sealed[len(prefix):]
