"""Tables of authentication: second-factor challenges, captchas, rate counters and trusted devices.

Every item here is short-lived: each carries a TTL attribute for DynamoDB to delete it eventually, and the
code compares the stored expiry with the clock itself (TTL deletion is late, and the emulator never deletes).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import (
    IntAttribute,
    Model,
    is_conditional_failure,
    save_once,
    table_meta,
    update_once,
)
from chalicelib.adapters.dynamo.models import AccountModel
from chalicelib.adapters.dynamo.repositories import connection
from chalicelib.domain.authflow import Challenge, CounterLimit
from chalicelib.errors import RateLimited


def _ttl(epoch: float, grace: int = 3600) -> datetime:
    return datetime.fromtimestamp(int(epoch) + grace, tz=UTC)


class ChallengeModel(Model):
    Meta = table_meta("auth-challenges")

    challenge_id = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute()  # login | reset | phone_change
    user_id = UnicodeAttribute(null=True)  # None for the decoy of a reset for an unknown account
    phone = UnicodeAttribute(null=True)  # where codes go
    methods = ListAttribute(of=UnicodeAttribute, default=list)
    code_hash = UnicodeAttribute(null=True)
    code_expires_at = NumberAttribute(null=True)
    last_sent_at = NumberAttribute(default=0)
    attempts = IntAttribute(default=0)
    used = BooleanAttribute(default=False)
    expires_at = NumberAttribute()
    ttl = TTLAttribute()


class CaptchaModel(Model):
    Meta = table_meta("captchas")

    captcha_id = UnicodeAttribute(hash_key=True)
    answer_hash = UnicodeAttribute()
    used = BooleanAttribute(default=False)
    expires_at = NumberAttribute()
    ttl = TTLAttribute()


class CounterModel(Model):
    """A fixed-window counter (`<what>#<who>#<window>`), incremented atomically under its limit."""

    Meta = table_meta("rate-counters")

    key = UnicodeAttribute(hash_key=True)
    hits = IntAttribute(default=0)
    window_ends_at = NumberAttribute()
    ttl = TTLAttribute()


class TrustedDeviceModel(Model):
    Meta = table_meta("trusted-devices")

    device_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()


AUTH_MODELS: list[type[Model]] = [ChallengeModel, CaptchaModel, CounterModel, TrustedDeviceModel]


class DynamoChallenges:
    def create(self, challenge: Challenge) -> None:
        save_once(ChallengeModel(challenge.challenge_id, purpose=challenge.purpose, user_id=challenge.user_id,
                                 phone=challenge.phone, methods=list(challenge.methods),
                                 expires_at=challenge.expires_at, ttl=_ttl(challenge.expires_at)),
                  ChallengeModel.challenge_id.does_not_exist())

    def get(self, challenge_id: str) -> Challenge | None:
        try:
            m = ChallengeModel.get(challenge_id, consistent_read=True)
        except DoesNotExist:
            return None
        return Challenge(m.challenge_id, m.purpose, m.user_id, m.phone, tuple(m.methods or ()), int(m.expires_at),
                         m.code_hash, int(m.code_expires_at) if m.code_expires_at else None,
                         int(m.last_sent_at or 0), m.attempts or 0, bool(m.used))

    def send_code(self, challenge_id: str, code_hash: str, now: int, code_ttl: int, resend_after: int,
                  limits: list[CounterLimit]) -> None:
        """Store a new code and count the send against every limit, all or nothing.

        Raises `RateLimited` (nothing written) if the challenge was sent to less than `resend_after` seconds
        ago or any counter is at its limit.
        """
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(ChallengeModel(challenge_id), actions=[
                    ChallengeModel.code_hash.set(code_hash), ChallengeModel.code_expires_at.set(now + code_ttl),
                    ChallengeModel.last_sent_at.set(now)],
                    condition=(ChallengeModel.last_sent_at <= now - resend_after) & (ChallengeModel.used == False))  # noqa: E712
                for limit in limits:
                    _count_hit(tx, limit, now)
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                current = self.get(challenge_id)
                wait = resend_after - (now - (current.last_sent_at if current else now))
                raise RateLimited(max(1, wait)) from None
            blocked = [limit for limit, reason in zip(limits, reasons[1:], strict=False)
                       if reason is not None and reason.code == "ConditionalCheckFailed"]
            raise RateLimited(max((b.window_ends_at - now for b in blocked), default=60)) from None

    def wrong_code(self, challenge_id: str) -> int:
        """Count a wrong code atomically; returns the attempts so far."""
        m = ChallengeModel(challenge_id)
        m.update(actions=[ChallengeModel.attempts.add(1)])
        return m.attempts

    def consume(self, challenge_id: str) -> bool:
        """Mark the challenge used; False if it was already used (a code is good once)."""
        try:
            update_once(ChallengeModel(challenge_id), [ChallengeModel.used.set(True)],
                        ChallengeModel.used == False)  # noqa: E712
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True


def _count_hit(tx: TransactWrite, limit: CounterLimit, now: int) -> None:
    counter = CounterModel(limit.key)
    tx.update(counter, actions=[CounterModel.hits.add(1), CounterModel.window_ends_at.set(limit.window_ends_at),
                                CounterModel.ttl.set(_ttl(limit.window_ends_at, grace=60))],
              condition=CounterModel.hits.does_not_exist() | (CounterModel.hits < limit.limit))


class DynamoCounters:
    def hit(self, limit: CounterLimit, now: int) -> None:
        """Count one hit under `limit`; raises `RateLimited` (nothing counted) at the limit."""
        try:
            CounterModel(limit.key).update(
                actions=[CounterModel.hits.add(1), CounterModel.window_ends_at.set(limit.window_ends_at),
                         CounterModel.ttl.set(_ttl(limit.window_ends_at, grace=60))],
                condition=CounterModel.hits.does_not_exist() | (CounterModel.hits < limit.limit))
        except UpdateError as error:
            if is_conditional_failure(error):
                raise RateLimited(max(1, limit.window_ends_at - now)) from None
            raise

    def add(self, key: str, window_ends_at: int) -> int:
        """Count one event without a limit; returns the new count."""
        counter = CounterModel(key)
        counter.update(actions=[CounterModel.hits.add(1), CounterModel.window_ends_at.set(window_ends_at),
                                CounterModel.ttl.set(_ttl(window_ends_at, grace=60))])
        return counter.hits

    def get(self, key: str, now: int) -> int:
        try:
            counter = CounterModel.get(key)
        except DoesNotExist:
            return 0
        return counter.hits if counter.window_ends_at > now else 0


class DynamoCaptchas:
    def create(self, captcha_id: str, answer_hash: str, expires_at: int) -> None:
        save_once(CaptchaModel(captcha_id, answer_hash=answer_hash, expires_at=expires_at, ttl=_ttl(expires_at)),
                  CaptchaModel.captcha_id.does_not_exist())

    def consume(self, captcha_id: str) -> tuple[str, int] | None:
        """Use a captcha once: returns (answer hash, expiry), or None if unknown or already used."""
        try:
            m = CaptchaModel(captcha_id)
            update_once(m, [CaptchaModel.used.set(True)],
                        CaptchaModel.captcha_id.exists() & (CaptchaModel.used == False))  # noqa: E712
        except UpdateError as error:
            if is_conditional_failure(error):
                return None
            raise
        return m.answer_hash, int(m.expires_at)


class DynamoDevices:
    def create(self, device_hash: str, user_id: str, created_at: int, expires_at: int) -> None:
        TrustedDeviceModel(device_hash, user_id=user_id, created_at=created_at, expires_at=expires_at,
                           ttl=_ttl(expires_at)).save()

    def get(self, device_hash: str) -> tuple[str, int, int] | None:
        try:
            m = TrustedDeviceModel.get(device_hash)
        except DoesNotExist:
            return None
        return m.user_id, int(m.created_at), int(m.expires_at)


class DynamoLoginState:
    """Per-account login state on the accounts table: failure counter, lock, TOTP, device trust epoch."""

    def record_failure(self, user_id: str, now: int, lock_after: int, lock_seconds: int) -> tuple[int, int | None]:
        """Count a wrong password atomically; lock when the count reaches `lock_after`.

        Returns (failures, locked_until). A failure during a lock is not counted and does not extend it.
        """
        account = AccountModel(user_id)
        try:
            account.update(actions=[AccountModel.failed_logins.add(1)],
                           condition=AccountModel.user_id.exists()
                           & (AccountModel.locked_until.does_not_exist() | (AccountModel.locked_until <= now)))
        except UpdateError as error:
            if is_conditional_failure(error):
                current = AccountModel.get(user_id, consistent_read=True)
                return current.failed_logins, int(current.locked_until) if current.locked_until else None
            raise
        failures = account.failed_logins
        if failures < lock_after:
            return failures, None
        until = now + lock_seconds
        try:
            # Only the attempt that crossed the threshold sets the lock; concurrent ones find it set.
            AccountModel(user_id).update(
                actions=[AccountModel.locked_until.set(until), AccountModel.failed_logins.set(0)],
                condition=AccountModel.failed_logins >= lock_after)
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise
            current = AccountModel.get(user_id, consistent_read=True)
            return failures, int(current.locked_until) if current.locked_until else None
        return failures, until

    def reset_failures(self, user_id: str) -> None:
        AccountModel(user_id).update(actions=[AccountModel.failed_logins.set(0)],
                                     condition=AccountModel.user_id.exists())

    def set_totp_pending(self, user_id: str, sealed: str | None) -> None:
        action = AccountModel.totp_pending_secret.set(sealed) if sealed else AccountModel.totp_pending_secret.remove()
        AccountModel(user_id).update(actions=[action], condition=AccountModel.user_id.exists())

    def activate_totp(self, user_id: str, sealed: str, step: int) -> None:
        AccountModel(user_id).update(actions=[AccountModel.totp_secret.set(sealed),
                                              AccountModel.totp_pending_secret.remove(),
                                              AccountModel.totp_last_step.set(step)],
                                     condition=AccountModel.totp_pending_secret.exists())

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used; False if it (or a later one) was already accepted — no code works twice."""
        try:
            AccountModel(user_id).update(
                actions=[AccountModel.totp_last_step.set(step)],
                condition=AccountModel.totp_last_step.does_not_exist() | (AccountModel.totp_last_step < step))
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def clear_totp(self, user_id: str) -> None:
        AccountModel(user_id).update(actions=[AccountModel.totp_secret.remove(),
                                              AccountModel.totp_pending_secret.remove(),
                                              AccountModel.totp_last_step.remove()],
                                     condition=AccountModel.user_id.exists())

    def distrust_devices(self, user_id: str, now: int) -> None:
        AccountModel(user_id).update(actions=[AccountModel.devices_valid_after.set(now)],
                                     condition=AccountModel.user_id.exists())


