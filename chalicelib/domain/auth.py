"""Login, refresh, logout and password change (API.md §3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import passwords
from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.model import Account, AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog
from chalicelib.domain.sessions import SessionService, TokenPair
from chalicelib.errors import InvalidCredentials, NotFound


@dataclass(frozen=True)
class SignedIn:
    tokens: TokenPair
    account: Account


class AuthService:
    def __init__(self, accounts: AccountRepository, sessions: SessionService, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self._accounts = accounts
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def login(self, login: str, password: str) -> SignedIn:
        """Check the password; unknown accounts pay the same argon2 cost and get the same answer."""
        account = self._accounts.get_by_login(login)
        if account is None:
            passwords.burn_verification(password)
            raise InvalidCredentials()
        if not passwords.verify_password(account.password_hash, password):
            self._record(account.user_id, "login.failed", "Wrong password")
            raise InvalidCredentials()
        tokens = self._sessions.start(account)
        self._record(account.user_id, "login", "Signed in", tokens.session_id)
        return SignedIn(tokens, account)

    def refresh(self, refresh_token: str) -> SignedIn:
        tokens, user_id = self._sessions.refresh(refresh_token)
        account = self._accounts.get(user_id)
        if account is None:
            raise InvalidCredentials()
        return SignedIn(tokens, account)

    def logout(self, caller: Principal) -> None:
        self._sessions.end(caller.session_id)
        self._record(caller.user_id, "logout", "Signed out", caller.session_id)

    def change_password(self, caller: Principal, old_password: str, new_password: str) -> None:
        """Change the caller's password; every other session of the account ends."""
        account = self._accounts.get(caller.user_id)
        if account is None:
            raise NotFound()
        if not passwords.verify_password(account.password_hash, old_password):
            raise InvalidCredentials("The current password is incorrect.")
        passwords.check_policy(new_password, account=account.account, phone=account.phone)
        self._accounts.set_password(account.user_id, passwords.hash_password(new_password), must_change=False)
        self._sessions.end_all(account.user_id, keep=caller.session_id)
        self._sessions.clear_must_change(caller.session_id)
        self._record(account.user_id, "password.changed", "Password changed")

    def _record(self, user_id: str, action: str, summary: str, ref: str | None = None) -> None:
        self._audit.record(AuditEvent(user_id, iso(self._clock()), action, summary, ref))
