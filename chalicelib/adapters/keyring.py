"""Keys from Secrets Manager: rotating token keys (JWT, HS256, `kid` header; list cursors) and one long-lived key.

The secret holds `{"current": "<kid>", "keys": {"<kid>": "<base64 key>", ...}, "long_lived": "<base64 key>"}`.
Token signing uses the current key; verification accepts every key still listed, so a rotation adds a key,
makes it current, and keeps the previous one (tokens live 15 minutes, cursors until the next rotation).

`long_lived` never rotates with the token keys (the rotation copies it): values that must stay checkable for
years (receipt verification codes printed on paper, payment ids derived from Idempotency-Keys, SMS code and
captcha hashes stored for minutes across a rotation, the stable decoy phone hints of resets) derive from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.errors import Unauthenticated
from chalicelib.observability import logger

REFRESH_SECONDS = 300


class Keyring:
    def __init__(self, load_secret: Callable[[], str], clock: Callable[[], float] = time.monotonic):
        self._load_secret = load_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at = -REFRESH_SECONDS - 1.0
        self._current = ""
        self._keys: dict[str, bytes] = {}
        self._long_lived: bytes | None = None

    def _refresh(self) -> None:
        with self._lock:
            if self._clock() - self._loaded_at < REFRESH_SECONDS:
                return
            document = json.loads(self._load_secret())
            keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
            long_lived = base64.b64decode(document["long_lived"]) if document.get("long_lived") else None
            if (document["current"] not in keys or any(len(k) < 32 for k in keys.values())
                    or (long_lived is not None and len(long_lived) < 32)):
                raise RuntimeError("token key secret is malformed: current key missing or a key under 256 bits")
            self._keys, self._current, self._long_lived = keys, document["current"], long_lived
            self._loaded_at = self._clock()

    def reload(self) -> None:
        """Read the secret again now (after a rotation by the operations CLI, instead of within 5 minutes)."""
        with self._lock:
            self._loaded_at = -REFRESH_SECONDS - 1.0
        self._refresh()

    def current(self) -> tuple[str, bytes]:
        self._refresh()
        return self._current, self._keys[self._current]

    def get(self, kid: str) -> bytes | None:
        self._refresh()
        return self._keys.get(kid)

    def derived(self, purpose: str) -> bytes:
        """A short-lived key for another purpose, derived from the current token key (changes at each rotation)."""
        _, key = self.current()
        return _derive(key, purpose)

    def derived_for(self, kid: str, purpose: str) -> bytes | None:
        """The `purpose` key derived from token key `kid`, while that key is still listed (None once dropped)."""
        key = self.get(kid)
        return _derive(key, purpose) if key is not None else None

    def long_lived(self, purpose: str) -> bytes:
        """A key for `purpose` that survives token key rotations (see the module docstring)."""
        self._refresh()
        if self._long_lived is None:
            # A secret written before long-lived keys existed: the next rotation adds one. Until then the old
            # behaviour (derived from the current token key) keeps the service up.
            logger.warning("token key secret has no long_lived key; rotate it once", extra={"purpose": purpose})
            return self.derived(purpose)
        return _derive(self._long_lived, purpose)


def _derive(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


class JwtSigner:
    """HS256 JWTs with a `kid` header; `alg` other than HS256, unknown keys, expiry and tampering → 401."""

    ALGORITHM = "HS256"

    def __init__(self, keyring: Keyring):
        self._keyring = keyring

    def sign(self, claims: dict[str, Any]) -> str:
        import jwt

        kid, key = self._keyring.current()
        return jwt.encode(claims, key, algorithm=self.ALGORITHM, headers={"kid": kid})

    def verify(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keyring.get(kid) if isinstance(kid, str) else None
            if key is None or header.get("alg") != self.ALGORITHM:
                raise Unauthenticated()
            claims = jwt.decode(token, key, algorithms=[self.ALGORITHM],
                                options={"require": ["exp", "iat", "sub", "sid"]})
        except jwt.PyJWTError:
            raise Unauthenticated() from None
        if claims.get("typ") != "access":
            raise Unauthenticated()
        return claims


def _random_key() -> str:
    import secrets

    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_secret_document(kid: str = "k1") -> str:
    """A fresh key document (used by the local stack and tests; infra/ generates its own)."""
    return json.dumps({"current": kid, "keys": {kid: _random_key()}, "long_lived": _random_key()})


def rotated_document(previous: str, kid: str) -> str:
    """The document after a rotation: a fresh current key `kid`, the previous current key kept for
    verification, older ones dropped, and the long-lived key carried over unchanged (created if missing).

    infra/token_rotation.py applies the same rule in the deployed rotation function (it cannot import this).
    """
    document = json.loads(previous)
    keys = document.get("keys") or {}
    kept = {document["current"]: keys[document["current"]]} if document.get("current") in keys else {}
    kept[kid] = _random_key()
    return json.dumps({"current": kid, "keys": kept, "long_lived": document.get("long_lived") or _random_key()})
