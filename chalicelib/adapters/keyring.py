"""Signing keys from Secrets Manager: access tokens (JWT, HS256, `kid` header) and list cursors.

The secret holds `{"current": "<kid>", "keys": {"<kid>": "<base64 key>", ...}}`. Signing uses the current
key; verification accepts every key still listed, so a rotation adds a key, makes it current, and removes the
old one once the longest-lived token signed with it (15 minutes) has expired.
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

REFRESH_SECONDS = 300


class Keyring:
    def __init__(self, load_secret: Callable[[], str], clock: Callable[[], float] = time.monotonic):
        self._load_secret = load_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at = -REFRESH_SECONDS - 1.0
        self._current = ""
        self._keys: dict[str, bytes] = {}

    def _refresh(self) -> None:
        with self._lock:
            if self._clock() - self._loaded_at < REFRESH_SECONDS:
                return
            document = json.loads(self._load_secret())
            keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
            if document["current"] not in keys or any(len(k) < 32 for k in keys.values()):
                raise RuntimeError("token key secret is malformed: current key missing or a key under 256 bits")
            self._keys, self._current, self._loaded_at = keys, document["current"], self._clock()

    def current(self) -> tuple[str, bytes]:
        self._refresh()
        return self._current, self._keys[self._current]

    def get(self, kid: str) -> bytes | None:
        self._refresh()
        return self._keys.get(kid)

    def derived(self, purpose: str) -> bytes:
        """A key for another purpose (e.g. cursors), derived from the current key so purposes never share one."""
        _, key = self.current()
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


def new_secret_document(kid: str = "k1") -> str:
    """A fresh key document (used by the local stack and tests; infra/ generates its own)."""
    import secrets

    return json.dumps({"current": kid, "keys": {kid: base64.b64encode(secrets.token_bytes(32)).decode()}})
