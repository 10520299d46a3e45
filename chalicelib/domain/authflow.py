"""The rules of signing in (API.md §3) as plain values: challenges, limits, codes, captcha texts, lockout.

Kept free of storage so the policy can be tested alone; `domain/auth.py` applies it with the ports.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

LOCK_AFTER_FAILURES = 5
LOCK_SECONDS = 15 * 60
CAPTCHA_AFTER_FAILURES = 3
CHALLENGE_SECONDS = 300
CODE_SECONDS = 300
RESEND_SECONDS = 60
MAX_CODE_ATTEMPTS = 5
SMS_PER_PHONE_PER_HOUR = 5
SMS_PER_PHONE_PER_DAY = 10
# Reset texts have their own, lower quota: spamming resets must never use up the sign-in codes of the owner.
RESET_SMS_PER_HOUR = 3
RESET_SMS_PER_DAY = 5
# How long the failure state of an unknown login name is kept (a real account's is kept for good).
NAME_STATE_SECONDS = 30 * 24 * 3600
CAPTCHA_SECONDS = 120
CAPTCHA_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: readable on a phone
DEVICE_TRUST_SECONDS = 30 * 24 * 3600
TOTP_ISSUER = "OwnerPortal"


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    purpose: str  # login | reset | phone_change
    user_id: str | None
    phone: str | None
    methods: tuple[str, ...]
    expires_at: int
    code_hash: str | None = None
    code_expires_at: int | None = None
    last_sent_at: int = 0
    attempts: int = 0
    used: bool = False
    # What the SMS quotas count against: the phone, or for the decoy of an unknown reset the login name's hash.
    quota_key: str | None = None

    def dead(self, now: int) -> bool:
        """Expired, used, or out of attempts: API.md answers `challenge_expired` from here on."""
        return self.used or now >= self.expires_at or self.attempts >= MAX_CODE_ATTEMPTS


@dataclass(frozen=True)
class CounterLimit:
    """At most `limit` hits in the fixed window that ends at `window_ends_at` (epoch seconds)."""

    key: str
    limit: int
    window_ends_at: int


@dataclass(frozen=True)
class Attempt:
    """A password attempt reserved before the password is checked (so no concurrency beats the limits).

    `subject` is `user#<user_id>` for an account or `name#<hash>` for a login name no account has; both keep
    the same failure counter and lock, so an unknown name answers exactly like a real account.
    `lock_taken` is set when this was the last attempt allowed: the lock was taken up front and is lifted
    again if the password turns out right.
    """

    subject: str
    lock_taken: int | None = None


class AttemptRefused(Exception):
    """No attempt may be made now: locked until `locked_until`, or (None) a captcha must be solved first."""

    def __init__(self, locked_until: int | None):
        super().__init__("attempt refused")
        self.locked_until = locked_until


def account_subject(user_id: str) -> str:
    return f"user#{user_id}"


def name_subject(login: str) -> str:
    """The attempt subject of a login name that no account has (normalised like account names)."""
    return f"name#{hashlib.sha256(login.strip().lower().encode()).hexdigest()}"


def hour_window(now: int) -> tuple[str, int]:
    start = now - now % 3600
    return str(start), start + 3600


def day_window(now: int) -> tuple[str, int]:
    start = now - now % 86400
    return str(start), start + 86400


def sms_limits(quota_key: str | None, ip: str, now: int, per_ip_per_hour: int,
               purpose: str = "login") -> list[CounterLimit]:
    """The counters one text is charged to. Reset texts count against their own per-phone (or, for an unknown
    account, per-name) quota, never against the sign-in codes' quota."""
    hour, hour_end = hour_window(now)
    day, day_end = day_window(now)
    limits = [CounterLimit(f"sms-ip#{ip}#{hour}", per_ip_per_hour, hour_end)]
    if quota_key and purpose == "reset":
        limits += [CounterLimit(f"sms-reset-h#{quota_key}#{hour}", RESET_SMS_PER_HOUR, hour_end),
                   CounterLimit(f"sms-reset-d#{quota_key}#{day}", RESET_SMS_PER_DAY, day_end)]
    elif quota_key:
        limits += [CounterLimit(f"sms-phone-h#{quota_key}#{hour}", SMS_PER_PHONE_PER_HOUR, hour_end),
                   CounterLimit(f"sms-phone-d#{quota_key}#{day}", SMS_PER_PHONE_PER_DAY, day_end)]
    return limits


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(key: bytes, challenge_id: str, code: str) -> str:
    """Codes are stored as a keyed hash bound to their challenge: a table dump reveals nothing usable."""
    return hmac.new(key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def captcha_text(length: int = 5) -> str:
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(length))


def captcha_hash(key: bytes, captcha_id: str, answer: str) -> str:
    return hmac.new(key, f"{captcha_id}:{answer.strip().upper()}".encode(), hashlib.sha256).hexdigest()


def device_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sms_code_text(code: str) -> str:
    return f"【物业】验证码{code}，5分钟内有效，请勿泄露。"


def fake_phone_hint(key: bytes, login: str) -> str:
    """A stable, plausible hint for an unknown account, so a reset answer never reveals existence."""
    digest = hmac.new(key, login.strip().lower().encode(), hashlib.sha256).hexdigest()
    digits = str(int(digest[:12], 16))[-6:].rjust(6, "0")
    return f"+86 13{digits[0]}****{digits[2:6]}"


def phone_changed_text(new_phone_hint: str) -> str:
    return f"【物业】您的账户手机号已变更为{new_phone_hint}。如非本人操作，请立即联系物业服务中心。"
