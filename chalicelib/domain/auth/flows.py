"""The authentication flows of API.md §3 and §5, each built from only the parts it needs."""

from __future__ import annotations

import contextlib
import time

from chalicelib.domain import authflow as policy
from chalicelib.domain import passwords
from chalicelib.domain.auth.base import (
    ChallengeExpired,
    Clock,
    Clocked,
    Keys,
    MethodUnavailable,
    MfaRequired,
    SignedIn,
    Sms,
    SmsUnavailable,
    account_for,
    record,
)
from chalicelib.domain.auth.challenges import ChallengeService, SmsCodes
from chalicelib.domain.auth.factors import SecondFactors, TrustedDevices
from chalicelib.domain.auth.password import CaptchaService, PasswordStep
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.domain.sessions import SessionService
from chalicelib.errors import Conflict
from chalicelib.observability import count, logger, mask_phone


class SignIn(Clocked):
    """`/auth/login` and `/auth/verify`: the password, then a trusted device or a registered second factor."""

    def __init__(self, password: PasswordStep, devices: TrustedDevices, challenges: ChallengeService,
                 factors: SecondFactors, accounts: AccountRepository, sessions: SessionService, audit: AuditLog,
                 clock: Clock = time.time):
        self._password = password
        self._devices = devices
        self._rules = challenges
        self._factors = factors
        self._accounts = accounts
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def login(self, login: str, password: str, ip: str, *, device_token: str | None = None,
              captcha_id: str | None = None, captcha_answer: str | None = None) -> SignedIn | MfaRequired:
        """The password step. A trusted device signs in at once; otherwise a second factor is required."""
        account = self._password.sign_in(login, password, ip, captcha_id, captcha_answer)
        now = self._now()
        if device_token and self._devices.trusted(account, device_token, now):
            return self._signed_in(account, "Signed in on a trusted device")
        methods = self._factors.offered(account)
        challenge = self._rules.open("login", account.user_id, account.phone, methods, now,
                                          quota_key=account.phone)
        return MfaRequired(challenge.challenge_id, methods, mask_phone(account.phone), policy.CHALLENGE_SECONDS)

    def verify(self, challenge_id: str, method: str, proof: str, trust_device: bool = False) -> SignedIn:
        """Complete a login challenge with one of the methods it offered; optionally trust this device."""
        now = self._now()
        challenge = self._rules.live(challenge_id, now, purpose="login")
        account = account_for(self._accounts, challenge.user_id)
        factor = self._factors.get(method)
        if factor is None or method not in challenge.methods:
            raise MethodUnavailable()
        attempt = self._rules.take_attempt(challenge)
        if not factor.verify(challenge, account, proof, now):
            self._rules.reject(attempt)
        self._rules.use(challenge_id)
        device_token = self._devices.trust(account, now) if trust_device else None
        return self._signed_in(account, f"Signed in with {method.upper()} code", device_token)

    def _signed_in(self, account: Account, summary: str, device_token: str | None = None) -> SignedIn:
        tokens = self._sessions.start(account)
        record(self._audit, account.user_id, "login", summary, tokens.session_id)
        count("LoginSucceeded")
        return SignedIn(tokens, account, device_token)


class Recovery(Clocked):
    """Password reset by SMS. The answers are the same whether or not the account exists."""

    def __init__(self, accounts: AccountRepository, captcha: CaptchaService, challenges: ChallengeService,
                 codes: SmsCodes, devices: TrustedDevices, sessions: SessionService, audit: AuditLog, keys: Keys,
                 clock: Clock = time.time):
        self._accounts = accounts
        self._captcha = captcha
        self._rules = challenges
        self._codes = codes
        self._devices = devices
        self._sessions = sessions
        self._audit = audit
        self._keys = keys
        self._clock = clock

    def start(self, login: str, ip: str, captcha_id: str | None, captcha_answer: str | None) -> MfaRequired:
        """Begin a reset (a solved captcha first) and text the code, within the reset quota of the phone."""
        self._captcha.check(captcha_id, captcha_answer)
        now = self._now()
        account = self._accounts.get_by_login(login)
        # An unknown name is charged to the same reset quota (keyed by the name) with the same answers.
        quota_key = account.phone if account else policy.name_subject(login)
        challenge = self._rules.open("reset", account.user_id if account else None,
                                          account.phone if account else None, ("sms",), now, quota_key=quota_key)
        hint = mask_phone(account.phone) if account else policy.fake_phone_hint(self._keys("reset-hint"), login)
        # Not on the allow-list, or SNS failed (the send was undone, `/auth/sms` resends): the answer is the same
        # 202 as for an unknown account, so neither tells whether the account exists.
        with contextlib.suppress(MethodUnavailable, SmsUnavailable):
            self._codes.send(challenge.challenge_id, ip)
        record(self._audit, account.user_id if account else quota_key, "password.reset_requested",
               "Password reset requested by SMS")
        return MfaRequired(challenge.challenge_id, ("sms",), hint, policy.CHALLENGE_SECONDS)

    def confirm(self, challenge_id: str, code: str, new_password: str) -> None:
        """Set a new password with the texted code; ends every session, clears any lock, distrusts devices."""
        now = self._now()
        challenge = self._rules.live(challenge_id, now, purpose="reset")
        attempt = self._rules.take_attempt(challenge)
        if challenge.user_id is None or not self._codes.matches(challenge, code, now):
            self._rules.reject(attempt)
        account = account_for(self._accounts, challenge.user_id)
        passwords.check_policy(new_password, account=account.account, phone=account.phone)
        self._rules.use(challenge_id)
        self._accounts.set_password(account.user_id, passwords.hash_password(new_password), must_change=False)
        self._accounts.clear_lock(account.user_id)
        self._devices.distrust_all(account.user_id, now)
        self._sessions.end_all(account.user_id)
        record(self._audit, account.user_id, "password.reset", "Password reset by SMS code")


class PhoneChange(Clocked):
    """Move the caller to a new phone number, proven by a code texted to it; the old number is told."""

    def __init__(self, accounts: AccountRepository, password: PasswordStep, challenges: ChallengeService,
                 codes: SmsCodes, sms: Sms, audit: AuditLog, clock: Clock = time.time):
        self._accounts = accounts
        self._password = password
        self._rules = challenges
        self._codes = codes
        self._sms = sms
        self._audit = audit
        self._clock = clock

    def start(self, caller: Principal, new_phone: str, password: str, ip: str) -> str:
        """Re-authenticate with the password and text a code to the new number; returns the challenge id."""
        now = self._now()
        account = account_for(self._accounts, caller.user_id)
        self._password.reauthenticate(account, password, "change the phone number")
        if new_phone == account.phone or self._accounts.phone_taken(new_phone):
            raise Conflict("The phone number is already in use.", details={"fields": ["new_phone"]})
        if not self._sms.allowed(new_phone):
            raise MethodUnavailable("Text messages cannot be sent to this number.")
        challenge = self._rules.open("phone_change", account.user_id, new_phone, ("sms",), now,
                                          quota_key=new_phone)
        self._codes.send(challenge.challenge_id, ip)
        return challenge.challenge_id

    def confirm(self, caller: Principal, challenge_id: str, code: str) -> None:
        """Switch to the verified new number and tell the old number about it."""
        now = self._now()
        challenge = self._rules.live(challenge_id, now, purpose="phone_change")
        if challenge.user_id != caller.user_id or challenge.phone is None:
            raise ChallengeExpired()
        attempt = self._rules.take_attempt(challenge)
        if not self._codes.matches(challenge, code, now):
            self._rules.reject(attempt)
        self._rules.use(challenge_id)
        account = account_for(self._accounts, caller.user_id)
        self._accounts.change_phone(account.user_id, account.phone, challenge.phone)
        record(self._audit, account.user_id, "phone.changed", f"Phone changed to {mask_phone(challenge.phone)}")
        self._tell_old_number(account.phone, challenge.phone)

    def _tell_old_number(self, old_phone: str, new_phone: str) -> None:
        """Best effort: the change is already made, so a text SNS cannot send must not fail the request
        (a retry would only meet a used challenge)."""
        if not self._sms.allowed(old_phone):
            return
        try:
            self._sms.send(old_phone, policy.phone_changed_text(mask_phone(new_phone)))
        except Exception:  # noqa: BLE001 - any SNS or network failure
            logger.exception("phone change notice not sent")
            count("SmsFailed")


class AccountSessions:
    """What a signed-in caller does with their sessions and password: refresh, sign out, change the password."""

    def __init__(self, accounts: AccountRepository, sessions: SessionService, password: PasswordStep,
                 audit: AuditLog):
        self._accounts = accounts
        self._sessions = sessions
        self._password = password
        self._audit = audit

    def refresh(self, refresh_token: str) -> SignedIn:
        """New tokens for a refresh token (rotated; a reused one revokes the session)."""
        tokens, user_id = self._sessions.refresh(refresh_token)
        return SignedIn(tokens, account_for(self._accounts, user_id))

    def logout(self, caller: Principal) -> None:
        """End the caller's session."""
        self._sessions.end(caller.session_id)
        record(self._audit, caller.user_id, "logout", "Signed out", caller.session_id)

    def change_password(self, caller: Principal, old_password: str, new_password: str) -> None:
        """Change the caller's password; every other session of the account ends."""
        account = account_for(self._accounts, caller.user_id)
        self._password.reauthenticate(account, old_password, "change the password")
        passwords.check_policy(new_password, account=account.account, phone=account.phone)
        self._accounts.set_password(account.user_id, passwords.hash_password(new_password), must_change=False)
        self._sessions.end_all(account.user_id, keep=caller.session_id)
        self._sessions.clear_must_change(caller.session_id)
        record(self._audit, account.user_id, "password.changed", "Password changed")
