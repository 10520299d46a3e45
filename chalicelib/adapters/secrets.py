"""Configuration that operators keep in Secrets Manager (payment provider keys): read on first use, kept for a
bounded time, and re-read early on demand, so that a rotated key takes effect without a deploy.

A secret that does not exist, or exists without a value (infra/ creates the provider secrets empty), reads as
None: "not configured". Secrets Manager failing to answer is not "not configured": the last value read stays in
use (with a warning) and, with none yet, `SecretUnavailable` is raised so the caller answers 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.errors import Unavailable
from chalicelib.observability import logger

MAX_AGE_SECONDS = 600.0  # how long a value read is trusted before it is read again
MIN_REREAD_SECONDS = 60.0  # the earliest an early re-read (after a signature failure) may follow the last read


class SecretUnavailable(Unavailable):
    code = "unavailable"
    message = "A configuration store is temporarily unavailable; try again."


def read_secret_string(client: Any, secret_id: str) -> str | None:
    """The secret's current string, or None when the secret or its current value does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client.get_secret_value(SecretId=secret_id).get("SecretString")
    except client.exceptions.ResourceNotFoundException:
        return None
    except (BotoCoreError, ClientError) as error:
        raise SecretUnavailable() from error


class CachedSecret:
    """One secret's string, cached per container: read again once `max_age` has passed, or earlier when asked
    (`reread_soon`) but never within `min_reread` of the last read, so a burst of forged notices cannot turn into
    a burst of Secrets Manager calls."""

    def __init__(self, client: Callable[[], Any], secret_id: str, *, clock: Callable[[], float] = time.monotonic,
                 max_age: float = MAX_AGE_SECONDS, min_reread: float = MIN_REREAD_SECONDS):
        self.secret_id = secret_id
        self._client = client
        self._clock = clock
        self._max_age = max_age
        self._min_reread = min_reread
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._stale = False
        self._text: str | None = None

    def value(self) -> str | None:
        """The secret's string (None: not configured), read from Secrets Manager when the cached one is too old."""
        with self._lock:
            if self._read_at is None or self._stale or self._clock() - self._read_at >= self._max_age:
                self._read()
            return self._text

    def reread_soon(self) -> bool:
        """Have the next `value()` read the secret again, unless it was read less than `min_reread` ago.
        Returns whether it will."""
        with self._lock:
            if self._read_at is not None and self._clock() - self._read_at < self._min_reread:
                return False
            self._stale = True
            return True

    def _read(self) -> None:
        try:
            text = read_secret_string(self._client(), self.secret_id)
        except SecretUnavailable:
            if self._read_at is None:
                raise
            # Keep the last value rather than turning a Secrets Manager hiccup into an outage; try again after
            # `min_reread`, not on every request.
            logger.warning("secret read failed, keeping the last value", extra={"resource": self.secret_id})
            self._read_at = self._clock() - self._max_age + self._min_reread
            self._stale = False
            return
        self._text, self._read_at, self._stale = text, self._clock(), False
