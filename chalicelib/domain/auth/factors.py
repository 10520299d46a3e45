"""Second factors (API.md §3): a registry keyed by method name, the SMS and TOTP factors, trusted devices.

A factor proves a login challenge; the challenge rules (expiry, 5 attempts, single use) are applied around it by
`SignIn`, so a factor only says whether a proof is right. A later factor plugs in by registering::

    class PasskeyFactor:
        method = "passkey"

        def offered(self, account: Account) -> bool:
            return bool(passkeys.for_user(account.user_id))

        def verify(self, challenge: Challenge, account: Account, proof: str, now: int) -> bool:
            # `proof`: the WebAuthn assertion (JSON) over the challenge id; check it against a stored credential
            ...

    factors.register(PasskeyFactor(...))  # in deps.auth_service(), next to SMS and TOTP

It is then offered in the `methods` of a login answer for accounts it is `offered` to, and `/auth/verify` with
`"method": "passkey"` reaches its `verify` (the request shape must list the new method too).
"""

from __future__ import annotations

import secrets
import time
from typing import Protocol

from chalicelib.domain import authflow as policy
from chalicelib.domain.auth.base import (
    Clock,
    Clocked,
    Counters,
    Devices,
    InvalidCode,
    LoginState,
    SecretBox,
    account_for,
    record,
)
from chalicelib.domain.auth.challenges import SmsCodes
from chalicelib.domain.authflow import Challenge, CounterLimit
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability import count


class SecondFactor(Protocol):
    """One way to complete a login challenge."""

    @property
    def method(self) -> str:
        """The name clients use (`methods` in the login answer, `method` in `/auth/verify`)."""

    def offered(self, account: Account) -> bool:
        """Whether the account can use this factor now."""

    def verify(self, challenge: Challenge, account: Account, proof: str, now: int) -> bool:
        """Whether `proof` completes the challenge; called once per reserved attempt. A factor whose proofs could
        be replayed within the challenge's life must refuse a replay itself (TOTP does)."""


class SecondFactors:
    """The registry of second factors, in the order they are offered."""

    def __init__(self, *factors: SecondFactor):
        self._factors: dict[str, SecondFactor] = {}
        for factor in factors:
            self.register(factor)

    def register(self, factor: SecondFactor) -> None:
        """Add a factor; a method name is registered once."""
        if factor.method in self._factors:
            raise ValueError(f"second factor {factor.method!r} is already registered")
        self._factors[factor.method] = factor

    def offered(self, account: Account) -> tuple[str, ...]:
        """The methods the account may complete a challenge with."""
        return tuple(method for method, factor in self._factors.items() if factor.offered(account))

    def get(self, method: str) -> SecondFactor | None:
        return self._factors.get(method)


class SmsFactor:
    """The code texted to the account's phone (every account has one)."""

    method = "sms"

    def __init__(self, codes: SmsCodes):
        self._codes = codes

    def offered(self, account: Account) -> bool:
        return True

    def verify(self, challenge: Challenge, account: Account, proof: str, now: int) -> bool:
        return self._codes.matches(challenge, proof, now)


class TotpFactor:
    """The code of an activated authenticator app. Each 30-second step is accepted once per account, so a code
    seen over someone's shoulder cannot be used again."""

    method = "totp"

    def __init__(self, state: LoginState, box: SecretBox):
        self._state = state
        self._box = box

    def offered(self, account: Account) -> bool:
        return account.totp_enabled

    def verify(self, challenge: Challenge, account: Account, proof: str, now: int) -> bool:
        return self.accepts(account, proof, now)

    def accepts(self, account: Account, code: str, now: int) -> bool:
        """Whether `code` is the account's current code (±1 step) and its step was not used before."""
        if not account.totp_secret:
            return False
        step = matching_step(self._box.open(account.totp_secret, {"user_id": account.user_id}), code, now)
        return step is not None and self._state.accept_totp_step(account.user_id, step)


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The 30-second step (current ±1) whose code equals `code`, if any."""
    import pyotp

    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        at = now + offset * totp.interval
        if secrets.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


class TotpEnrollment(Clocked):
    """Set up, activate and remove the caller's authenticator app."""

    def __init__(self, accounts: AccountRepository, state: LoginState, box: SecretBox, counters: Counters,
                 totp: TotpFactor, audit: AuditLog, clock: Clock = time.time):
        self._accounts = accounts
        self._state = state
        self._box = box
        self._counters = counters
        self._totp = totp
        self._audit = audit
        self._clock = clock

    def setup(self, caller: Principal) -> tuple[str, str]:
        """A new authenticator secret (pending until activated with a code): (secret, otpauth URI)."""
        import pyotp

        account = self._account(caller)
        if account.totp_enabled:
            raise Conflict("An authenticator is already active; remove it first.")
        secret = pyotp.random_base32()
        self._state.set_totp_pending(account.user_id, self._box.seal(secret, {"user_id": account.user_id}))
        uri = pyotp.TOTP(secret).provisioning_uri(name=account.account, issuer_name=policy.TOTP_ISSUER)
        return secret, uri

    def activate(self, caller: Principal, code: str) -> None:
        """Turn the pending secret on with a code from the app."""
        account = self._account(caller)
        if not account.totp_pending_secret:
            raise Conflict("Set up an authenticator first.")
        secret = self._box.open(account.totp_pending_secret, {"user_id": account.user_id})
        key = self._take_attempt(account.user_id)
        step = matching_step(secret, code, self._now())
        if step is None:
            count("CodeRejected")
            raise InvalidCode()
        self._counters.release(key)
        self._state.activate_totp(account.user_id, self._box.seal(secret, {"user_id": account.user_id}), step)
        record(self._audit, account.user_id, "totp.enabled", "Authenticator app enabled")

    def remove(self, caller: Principal, code: str) -> None:
        """Remove the authenticator, proven with one of its codes."""
        account = self._account(caller)
        if not account.totp_enabled:
            raise NotFound("No authenticator is active.")
        key = self._take_attempt(account.user_id)
        if not self._totp.accepts(account, code, self._now()):
            count("CodeRejected")
            raise InvalidCode()
        self._counters.release(key)
        self._state.clear_totp(account.user_id)
        record(self._audit, account.user_id, "totp.disabled", "Authenticator app removed")

    def _account(self, caller: Principal) -> Account:
        return account_for(self._accounts, caller.user_id)

    def _take_attempt(self, user_id: str) -> str:
        """At most 5 authenticator codes checked per account per 15 minutes outside a challenge (a stolen token
        cannot guess its way to removing the authenticator); a right code gives its attempt back."""
        now = self._now()
        window = now - now % policy.LOCK_SECONDS
        limit = CounterLimit(f"totp-try#{user_id}#{window}", policy.MAX_CODE_ATTEMPTS, window + policy.LOCK_SECONDS)
        self._counters.hit(limit, now)
        return limit.key


class TrustedDevices:
    """Devices that skip the second factor for 30 days; a password reset distrusts every earlier one."""

    def __init__(self, devices: Devices, state: LoginState):
        self._devices = devices
        self._state = state

    def trusted(self, account: Account, token: str, now: int) -> bool:
        found = self._devices.get(policy.device_hash(token))
        if found is None:
            return False
        user_id, created_at, expires_at = found
        return (user_id == account.user_id and expires_at > now
                # strictly after: a device trusted in the same second as a reset is not known to be later
                and created_at > (account.devices_valid_after or -1))

    def trust(self, account: Account, now: int) -> str:
        """A new device token for the account (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        self._devices.create(policy.device_hash(token), account.user_id, now, now + policy.DEVICE_TRUST_SECONDS)
        return token

    def distrust_all(self, user_id: str, now: int) -> None:
        self._state.distrust_devices(user_id, now)
