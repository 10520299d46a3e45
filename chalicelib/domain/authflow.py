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

    def dead(self, now: int) -> bool:
        """Expired, used, or out of attempts: API.md answers `challenge_expired` from here on."""
        return self.used or now >= self.expires_at or self.attempts >= MAX_CODE_ATTEMPTS


@dataclass(frozen=True)
class CounterLimit:
    """At most `limit` hits in the fixed window that ends at `window_ends_at` (epoch seconds)."""

    key: str
    limit: int
    window_ends_at: int


def hour_window(now: int) -> tuple[str, int]:
    start = now - now % 3600
    return str(start), start + 3600


def day_window(now: int) -> tuple[str, int]:
    start = now - now % 86400
    return str(start), start + 86400


def sms_limits(phone: str | None, ip: str, now: int, per_ip_per_hour: int) -> list[CounterLimit]:
    hour, hour_end = hour_window(now)
    day, day_end = day_window(now)
    limits = [CounterLimit(f"sms-ip#{ip}#{hour}", per_ip_per_hour, hour_end)]
    if phone:
        limits += [CounterLimit(f"sms-phone-h#{phone}#{hour}", SMS_PER_PHONE_PER_HOUR, hour_end),
                   CounterLimit(f"sms-phone-d#{phone}#{day}", SMS_PER_PHONE_PER_DAY, day_end)]
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
