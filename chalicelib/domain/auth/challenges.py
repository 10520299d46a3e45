"""Challenges (a pending verification: second factor, reset, phone change) and the SMS codes sent for them."""

from __future__ import annotations

import secrets
import time
from typing import NoReturn

from chalicelib.domain import authflow as policy
from chalicelib.domain.auth.base import (
    AuthConfig,
    ChallengeExpired,
    Challenges,
    Clock,
    Clocked,
    InvalidCode,
    Keys,
    MethodUnavailable,
    Sms,
    SmsUnavailable,
)
from chalicelib.domain.authflow import Challenge
from chalicelib.domain.ids import new_id
from chalicelib.observability import count, logger


class ChallengeService:
    """The rules every challenge follows, whatever proves it: it expires after 5 minutes, at most 5 proofs are
    ever checked (each reserved before it is compared, however many requests race), and it is good once.

    Callers pass `now`, so one request judges everything at the same instant.
    """

    def __init__(self, challenges: Challenges):
        self._challenges = challenges

    def open(self, purpose: str, user_id: str | None, phone: str | None, methods: tuple[str, ...], now: int,
             quota_key: str | None) -> Challenge:
        """A new challenge for `purpose` (login | reset | phone_change), live for `CHALLENGE_SECONDS`."""
        challenge = Challenge(new_id("ch"), purpose, user_id, phone, methods, now + policy.CHALLENGE_SECONDS,
                              quota_key=quota_key)
        self._challenges.create(challenge)
        return challenge

    def live(self, challenge_id: str, now: int, purpose: str | None = None) -> Challenge:
        """The challenge, if it is for `purpose` and still live; `challenge_expired` otherwise (one read)."""
        challenge = self._challenges.get(challenge_id)
        if challenge is None or (purpose and challenge.purpose != purpose) or challenge.dead(now):
            raise ChallengeExpired()
        return challenge

    def take_attempt(self, challenge: Challenge) -> int:
        """Reserve one proof check before comparing; the number of this attempt (1..5)."""
        attempt = self._challenges.take_attempt(challenge.challenge_id, policy.MAX_CODE_ATTEMPTS)
        if attempt is None:
            count("CodeRejected")
            raise ChallengeExpired()
        return attempt

    @staticmethod
    def reject(attempt: int) -> NoReturn:
        """A wrong proof: `invalid_code`, or `challenge_expired` if it was the last attempt."""
        count("CodeRejected")
        if attempt >= policy.MAX_CODE_ATTEMPTS:
            raise ChallengeExpired()
        raise InvalidCode()

    def use(self, challenge_id: str) -> None:
        """Mark the challenge used; if another request used it first, this one fails (`challenge_expired`)."""
        if not self._challenges.consume(challenge_id):
            raise ChallengeExpired()


class SmsCodes(Clocked):
    """Six-digit codes texted for a challenge, stored as a keyed hash bound to it.

    A send is charged to every limit at once (the resend window, the per-phone or per-reset quota, the per-address
    quota) or refused with nothing changed; a text SNS could not send is given back.
    """

    def __init__(self, challenges: Challenges, rules: ChallengeService, sms: Sms, keys: Keys, config: AuthConfig,
                 clock: Clock = time.time):
        self._challenges = challenges
        self._rules = rules
        self._sms = sms
        self._keys = keys
        self._config = config
        self._clock = clock

    def send(self, challenge_id: str, ip: str) -> None:
        """Text a fresh code for a live challenge, within every limit; a refused send changes nothing."""
        now = self._now()
        challenge = self._rules.live(challenge_id, now)
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

    def matches(self, challenge: Challenge, code: str, now: int) -> bool:
        """Whether `code` is the last code texted for the challenge and has not expired."""
        if challenge.code_hash is None or not challenge.code_expires_at or challenge.code_expires_at <= now:
            return False
        expected = policy.code_hash(self._keys("sms-code"), challenge.challenge_id, code)
        return secrets.compare_digest(challenge.code_hash, expected)
