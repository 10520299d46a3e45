"""Sessions and tokens: short-lived signed access tokens naming a server-side session, rotating refresh tokens.

The access token proves who signed it and which session it belongs to; the session, read on every request,
decides whether it is still good. Revocation is therefore immediate, not at token expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, Principal, Session
from chalicelib.domain.ports import SessionRepository
from chalicelib.errors import Unauthenticated

ACCESS_TTL_SECONDS = 900
SESSION_TTL = timedelta(days=30)
ROTATED_HASHES_KEPT = 20


class TokenSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str: ...

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a genuine, unexpired token; raise `Unauthenticated` otherwise."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


def _hash_secret(secret: str) -> str:
    # Refresh secrets carry 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def _split_refresh(token: str) -> tuple[str, str]:
    session_id, sep, secret = token.partition(".")
    if not sep or not session_id or not secret or len(token) > 200:
        raise Unauthenticated()
    return session_id, secret


class SessionService:
    def __init__(self, sessions: SessionRepository, signer: TokenSigner, clock: Callable[[], datetime] = utcnow):
        self._sessions = sessions
        self._signer = signer
        self._clock = clock

    def start(self, account: Account) -> TokenPair:
        """Open a session for an account that has fully authenticated."""
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        session = Session(
            session_id=new_id("s"),
            user_id=account.user_id,
            role=account.role,
            refresh_hash=_hash_secret(secret),
            created_at=iso(now),
            expires_at=int((now + SESSION_TTL).timestamp()),
            community_ids=account.community_ids,
            unit_ids=account.unit_ids,
            must_change_password=account.must_change_password,
        )
        self._sessions.create(session)
        return TokenPair(self._access_token(session), f"{session.session_id}.{secret}", ACCESS_TTL_SECONDS,
                         session.session_id)

    def refresh(self, refresh_token: str) -> tuple[TokenPair, str]:
        """Rotate a refresh token. A token that was already rotated revokes the whole session (theft signal)."""
        session_id, secret = _split_refresh(refresh_token)
        session = self._sessions.get(session_id)
        if session is None or session.revoked or session.expires_at <= self._clock().timestamp():
            raise Unauthenticated()
        presented = _hash_secret(secret)
        if not hmac.compare_digest(presented, session.refresh_hash):
            if presented in session.rotated_hashes:
                self._sessions.revoke(session_id)
            raise Unauthenticated()
        new_secret = secrets.token_urlsafe(32)
        rotated = [*session.rotated_hashes, presented][-ROTATED_HASHES_KEPT:]
        if not self._sessions.rotate(session_id, presented, _hash_secret(new_secret), rotated):
            # A concurrent refresh used the same token first: that is reuse too.
            self._sessions.revoke(session_id)
            raise Unauthenticated()
        return (TokenPair(self._access_token(session), f"{session_id}.{new_secret}", ACCESS_TTL_SECONDS, session_id),
                session.user_id)

    def authenticate(self, access_token: str) -> Principal:
        """The caller behind an access token, checked against its live session (one read)."""
        claims = self._signer.verify(access_token)
        session_id = claims.get("sid")
        if not isinstance(session_id, str):
            raise Unauthenticated()
        session = self._sessions.get(session_id)
        if (session is None or session.revoked or session.user_id != claims.get("sub")
                or session.expires_at <= self._clock().timestamp()):
            raise Unauthenticated()
        return Principal(session.user_id, session.role, session.session_id, session.community_ids,
                         session.unit_ids, session.must_change_password)

    def end(self, session_id: str) -> None:
        self._sessions.revoke(session_id)

    def end_all(self, user_id: str, keep: str | None = None) -> int:
        return self._sessions.revoke_all(user_id, keep=keep)

    def clear_must_change(self, session_id: str) -> None:
        self._sessions.set_must_change(session_id, False)

    def _access_token(self, session: Session) -> str:
        now = int(self._clock().timestamp())
        return self._signer.sign({"sub": session.user_id, "sid": session.session_id, "role": session.role,
                                  "iat": now, "exp": now + ACCESS_TTL_SECONDS, "typ": "access"})
