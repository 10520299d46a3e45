"""Local stand-ins for the payment providers (Alipay, WeChat Pay): they check our signed requests the way the
provider does and send signed notices the way the provider does, so the real adapters run end to end offline.

Each emulator is a class with `prefix` (the URL path it serves under, e.g. `/alipay`) and
`handle(request) -> EmuAnswer`. `InProcessTransport` routes an adapter's requests straight to emulators (tests:
no sockets); `devstack.provider_server` serves the same emulators over HTTP for `make run` and points the local
stage's provider secrets at them (its `SETUPS` say how each emulator is built and what our adapter's config is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from chalicelib.adapters.payments.http import HttpAnswer, ProviderUnreachable


@dataclass(frozen=True)
class EmuRequest:
    method: str
    path: str  # below the emulator's prefix, e.g. `/gateway.do`
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower(), "")


@dataclass(frozen=True)
class EmuAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Emulator(Protocol):
    prefix: str

    def handle(self, request: EmuRequest) -> EmuAnswer: ...


def serving(emulators: Sequence[Emulator], path: str) -> tuple[Emulator, str] | None:
    """The emulator whose prefix starts `path`, with the rest of the path (`/` at least); None if none does."""
    for emulator in emulators:
        if path == emulator.prefix or path.startswith(emulator.prefix + "/"):
            return emulator, path[len(emulator.prefix):] or "/"
    return None


class InProcessTransport:
    """A `chalicelib.adapters.payments.http.Transport` that hands each request to the emulator serving its path
    (the host is ignored); `sent` keeps every request for assertions."""

    def __init__(self, *emulators: Emulator):
        self._emulators = emulators
        self.sent: list[EmuRequest] = []

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        parts = urlsplit(url)
        found = serving(self._emulators, parts.path)
        if found is None:
            raise ProviderUnreachable("no emulator serves " + parts.path)
        emulator, rest = found
        request = EmuRequest(method, rest, parts.query, dict(headers), body or b"")
        self.sent.append(request)
        answer = emulator.handle(request)
        return HttpAnswer(answer.status, dict(answer.headers), answer.body)
