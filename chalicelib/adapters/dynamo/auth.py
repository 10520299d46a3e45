"""Tables of authentication: second-factor challenges, captchas, rate counters and trusted devices.

Every item here is short-lived: each carries a TTL attribute for DynamoDB to delete it eventually, and the
code compares the stored expiry with the clock itself (TTL deletion is late, and the emulator never deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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
from chalicelib.domain.authflow import Attempt, AttemptRefused, Challenge, CounterLimit
from chalicelib.errors import RateLimited
from chalicelib.observability import logger


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
    quota_key = UnicodeAttribute(null=True)  # what the SMS quotas count against (phone, or a name's hash)
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
    locked_until = NumberAttribute(null=True)  # only on the login state of an unknown name (`login-name#...`)
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
                                 expires_at=challenge.expires_at, quota_key=challenge.quota_key,
                                 ttl=_ttl(challenge.expires_at)),
                  ChallengeModel.challenge_id.does_not_exist())

    def get(self, challenge_id: str) -> Challenge | None:
        try:
            m = ChallengeModel.get(challenge_id, consistent_read=True)
        except DoesNotExist:
            return None
        return Challenge(m.challenge_id, m.purpose, m.user_id, m.phone, tuple(m.methods or ()), int(m.expires_at),
                         m.code_hash, int(m.code_expires_at) if m.code_expires_at else None,
                         int(m.last_sent_at or 0), m.attempts or 0, bool(m.used), m.quota_key)

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

    def unsend(self, challenge_id: str, sent_at: int, previous_sent_at: int, limits: list[CounterLimit]) -> None:
        """Undo `send_code` after the text could not be sent: the resend window and every counter go back, and
        the undelivered code is forgotten. Only the send made at `sent_at` is undone."""
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(ChallengeModel(challenge_id), actions=[
                    ChallengeModel.last_sent_at.set(previous_sent_at), ChallengeModel.code_hash.remove(),
                    ChallengeModel.code_expires_at.remove()], condition=ChallengeModel.last_sent_at == sent_at)
                for limit in limits:
                    tx.update(CounterModel(limit.key), actions=[CounterModel.hits.add(-1)],
                              condition=CounterModel.hits > 0)
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            logger.warning("sms send not undone: state moved on", extra={"challenge_id": challenge_id})

    def take_attempt(self, challenge_id: str, max_attempts: int) -> int | None:
        """Reserve one code check before the code is compared: at most `max_attempts` checks ever happen, however
        many requests race. Returns the attempt's number, or None when none is left (or the challenge is used)."""
        m = ChallengeModel(challenge_id)
        try:
            m.update(actions=[ChallengeModel.attempts.add(1)],
                     condition=ChallengeModel.challenge_id.exists() & (ChallengeModel.used == False)  # noqa: E712
                     & (ChallengeModel.attempts.does_not_exist() | (ChallengeModel.attempts < max_attempts)))
        except UpdateError as error:
            if is_conditional_failure(error):
                return None
            raise
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

    def release(self, key: str) -> None:
        """Give back one hit taken with `hit` (the event it reserved for did not happen)."""
        try:
            CounterModel(key).update(actions=[CounterModel.hits.add(-1)], condition=CounterModel.hits > 0)
        except UpdateError as error:
            if not is_conditional_failure(error):
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

    def reserve_attempt(self, subject: str, now: int, allowed: int, lock_after: int, lock_seconds: int) -> Attempt:
        """Take one password attempt atomically before the password is checked.

        At most `allowed` consecutive failures may be in the counter (a captcha raises `allowed` from 3 to 5);
        the attempt that can be the `lock_after`-th failure takes the lock up front. Raises `AttemptRefused`
        while locked (a refused attempt neither counts nor extends the lock) or when `allowed` is reached.
        """
        item, count, lock, guard, extra = _attempt_target(subject, now)
        free = lock.does_not_exist() | (lock <= now)
        for _ in range(3):  # a success resetting the counter meanwhile can make a refusal stale: try again
            try:
                item.update(actions=[count.add(1), *extra], condition=guard & free & (
                    count.does_not_exist() | (count < min(allowed, lock_after - 1))))
                return Attempt(subject)
            except UpdateError as error:
                if not is_conditional_failure(error):
                    raise
            if allowed >= lock_after:
                until = now + lock_seconds
                try:
                    # Only one attempt can be the last: it locks before checking, so none can race past it.
                    item.update(actions=[lock.set(until), count.set(0), *extra],
                                condition=guard & free & (count == lock_after - 1))
                    return Attempt(subject, lock_taken=until)
                except UpdateError as error:
                    if not is_conditional_failure(error):
                        raise
            failures, locked_until = _attempt_state(subject)
            if locked_until and locked_until > now:
                raise AttemptRefused(locked_until)
            if failures >= allowed:
                raise AttemptRefused(None)
        raise AttemptRefused(None)

    def settle_success(self, attempt: Attempt) -> None:
        """The password was right: the failures start again from zero, and a lock this attempt took is lifted."""
        item, count, lock, guard, _ = _attempt_target(attempt.subject, 0)
        try:
            if attempt.lock_taken is not None:
                item.update(actions=[count.set(0), lock.remove()], condition=guard & (lock == attempt.lock_taken))
            else:
                item.update(actions=[count.set(0)], condition=guard)
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise

    def cancel_attempt(self, attempt: Attempt, lock_after: int) -> None:
        """Give an attempt back unchecked (the request was refused for another reason, e.g. a missing captcha)."""
        item, count, lock, guard, _ = _attempt_target(attempt.subject, 0)
        try:
            if attempt.lock_taken is not None:
                item.update(actions=[count.set(lock_after - 1), lock.remove()],
                            condition=guard & (lock == attempt.lock_taken))
            else:
                item.update(actions=[count.add(-1)], condition=guard & (count > 0))
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise

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




def _attempt_target(subject: str, now: int) -> tuple[Any, Any, Any, Any, list[Any]]:
    """Where a subject's failures live: an account on its own item, an unknown name on a counter item (kept
    30 days). Both are one conditional update per attempt, so the two cost the same."""
    from chalicelib.domain.authflow import NAME_STATE_SECONDS

    kind, _, ident = subject.partition("#")
    if kind == "user":
        return (AccountModel(ident), AccountModel.failed_logins, AccountModel.locked_until,
                AccountModel.user_id.exists(), [])
    keep = now + NAME_STATE_SECONDS
    return (CounterModel(f"login-name#{ident}"), CounterModel.hits, CounterModel.locked_until,
            CounterModel.key.does_not_exist() | CounterModel.key.exists(),
            [CounterModel.window_ends_at.set(keep), CounterModel.ttl.set(_ttl(keep, grace=0))] if now else [])


def _attempt_state(subject: str) -> tuple[int, int | None]:
    kind, _, ident = subject.partition("#")
    read: Callable[[], Any] = ((lambda: AccountModel.get(ident, consistent_read=True)) if kind == "user"
                               else (lambda: CounterModel.get(f"login-name#{ident}", consistent_read=True)))
    try:
        m = read()
    except DoesNotExist:
        return 0, None
    failures = m.failed_logins if kind == "user" else m.hits
    return failures or 0, int(m.locked_until) if m.locked_until else None
