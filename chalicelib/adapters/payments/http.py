"""Outbound HTTPS to payment providers: one small port, so that tests and the local stack route the adapters'
real requests to the provider emulators (devstack/emulators) without sockets or outside access.

urllib3 comes with botocore; the pool is built on first use and shared by the container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CONNECT_SECONDS = 3.0
READ_SECONDS = 8.0  # well inside the 30 s function timeout, with one retry by the caller if it wants


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower(), "")


class Transport(Protocol):
    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        """Send one request and return the answer; raise `ProviderUnreachable` when there is none."""


class ProviderUnreachable(Exception):
    """No answer from the provider (connection, TLS or timeout): the outcome of the request is unknown."""


class Urllib3Transport:
    """The real transport: TLS verified, bounded timeouts, no automatic retries (the caller decides, since a
    retried order or refund request must be idempotent at the provider)."""

    def __init__(self) -> None:
        self._pool = None

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        import urllib3

        if self._pool is None:
            self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS),
                                             retries=False)
        try:
            answer = self._pool.request(method, url, body=body, headers=headers, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise ProviderUnreachable(type(error).__name__) from None
        return HttpAnswer(answer.status, dict(answer.headers), answer.data)


_shared: Urllib3Transport | None = None


def default_transport() -> Urllib3Transport:
    global _shared
    if _shared is None:
        _shared = Urllib3Transport()
    return _shared
