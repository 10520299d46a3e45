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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    if not text or len(text) % 4 == 1 or not set(text) <= _B64URL:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "sid")
LEEWAY_SECONDS = 0


class JwtSigner:
    """HS256 JWTs (RFC 7519) with a `kid` header; `alg` other than HS256, unknown keys, expiry and tampering → 401.

    Written on the standard library (hmac, json, base64): HS256 needs nothing else, and a JWT library imports
    `cryptography` for its other algorithms, which the first request of every container would pay for. The
    tests check it against PyJWT both ways (tokens each signs, the other verifies).
    """

    ALGORITHM = "HS256"

    def __init__(self, keyring: Keyring, clock: Callable[[], float] = time.time):
        self._keyring = keyring
        self._clock = clock

    def sign(self, claims: dict[str, Any]) -> str:
        kid, key = self._keyring.current()
        header = {"alg": self.ALGORITHM, "typ": "JWT", "kid": kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header_part, claims_part, signature_part = token.split(".")
            header = json.loads(_unb64url(header_part))
            signature = _unb64url(signature_part)
        except (ValueError, TypeError, AttributeError):
            raise Unauthenticated() from None
        if not isinstance(header, dict) or header.get("alg") != self.ALGORITHM:
            raise Unauthenticated()
        kid = header.get("kid")
        key = self._keyring.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated()
        expected = hmac.new(key, f"{header_part}.{claims_part}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise Unauthenticated()
        try:
            claims = json.loads(_unb64url(claims_part))
        except ValueError:
            raise Unauthenticated() from None
        if not isinstance(claims, dict) or not self._current(claims) or claims.get("typ") != "access":
            raise Unauthenticated()
        return claims

    def _current(self, claims: dict[str, Any]) -> bool:
        """Every required claim is there, and the token is within its lifetime now."""
        if any(name not in claims for name in _REQUIRED_CLAIMS):
            return False
        times = [claims["exp"], claims["iat"], claims.get("nbf", 0)]
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times):
            return False
        now = self._clock()
        return claims["exp"] > now - LEEWAY_SECONDS and claims["iat"] <= now + LEEWAY_SECONDS \
            and claims.get("nbf", 0) <= now + LEEWAY_SECONDS


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
