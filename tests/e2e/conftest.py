"""End-to-end: the real local stack (`python -m devstack`) as a subprocess on free ports, over HTTP.

Started once per test session and shared by every e2e test; stopped with Ctrl-C (SIGINT) like a person would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTCHA_ANSWER = "E2E42"
# Upper bounds, never speed targets: a wait returns as soon as its condition holds, and a loaded machine
# several times slower than this one must still pass.
PATIENCE = 300.0
REQUEST_TIMEOUT = 120


class StackApi:
    """The integration helpers' `Api` shape over real HTTP, so `make_world` builds accounts on the stack."""

    def __init__(self, stack: Stack):
        self.stack = stack

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        from tests.integration.helpers import Reply

        status, parsed, headers = self.stack.request(method, path, body, token)
        return Reply(status, parsed, headers, json.dumps(parsed).encode() if parsed is not None else b"")

    def get(self, path: str, token: str | None = None) -> Any:
        return self.call("GET", path, token=token)

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        return self.call("POST", path, body if body is not None else {}, token)

    def delete(self, path: str, token: str | None = None) -> Any:
        return self.call("DELETE", path, token=token)

    def sms_messages(self) -> list[tuple[str, str]]:
        return self.stack.all_sms()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_served(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


STOP_LIMIT_SECONDS = 120  # generous: a stop takes about a second, but a loaded machine must not fail the run


@dataclass
class Stack:
    api_url: str
    emulator_url: str
    process: subprocess.Popen[str]
    data_dir: Path
    output: list[str] = field(default_factory=list)

    @property
    def api_port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    @property
    def emulator_port(self) -> int:
        return int(self.emulator_url.rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        status, raw, got = self.request_raw(method, path, body, token, headers)
        return status, (json.loads(raw) if raw else None), got

    def request_raw(self, method: str, path: str, body: Any = None, token: str | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as answer:
                raw, status, got = answer.read(), answer.status, dict(answer.headers)
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, dict(error.headers)
        return status, raw, {k.lower(): v for k, v in got.items()}

    def all_sms(self, phone: str | None = None) -> list[tuple[str, str]]:
        """Every text the app sent (to `phone`, if given), (phone, text), oldest first: the stack's SMS page."""
        query = "?" + urllib.parse.urlencode({"phone": phone}) if phone else ""
        with urllib.request.urlopen(f"{self.api_url}/_devstack/sms{query}", timeout=REQUEST_TIMEOUT) as answer:
            items = json.load(answer)["items"]
        return [(m["phone"], m["message"]) for m in items]

    def sms_to(self, phone: str) -> list[str]:
        """The texts sent to a phone, oldest first (as the phone's owner would read them)."""
        return [text for _, text in self.all_sms(phone)]

    def stop(self, sig: int = signal.SIGINT, limit: float = STOP_LIMIT_SECONDS) -> float:
        """Send `sig` and wait for the exit; return the seconds it took (fails past `limit`)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the local stack did not stop within {limit} s of signal {sig}")
        return time.monotonic() - started


def launch(data_dir: Path, *args: str, **env: str) -> Stack:
    """Start `python -m devstack` on free ports with its data in `data_dir`; return once the banner is out."""
    api_port, emulator_port = free_port(), free_port()
    full_env = {**os.environ, "API_PORT": str(api_port), "AWS_EMULATOR_PORT": str(emulator_port),
                "PROVIDER_EMULATOR_PORT": str(free_port()),
                "DEVSTACK_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **env}
    for name in ("AWS_ENDPOINT_URL", "FRESH"):
        full_env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "devstack", *args], cwd=ROOT, env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = Stack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{emulator_port}", process, data_dir)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line)
            if "local stack is up" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 300  # generous: start-up takes seconds, a loaded machine must not fail it
    while not ready.wait(1) and process.poll() is None and time.monotonic() < deadline:
        pass
    if not ready.is_set():
        process.kill()
        pytest.fail("the local stack did not start:\n" + "".join(running.output[-50:]))
    return running


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = launch(tmp_path_factory.mktemp("devstack"), CAPTCHA_TEST_ANSWER=CAPTCHA_ANSWER,
                     SMS_PER_IP_PER_HOUR="100000", LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA="100000")
    yield running
    seconds = running.stop(signal.SIGINT)
    print(f"\ne2e stack stopped on Ctrl-C in {seconds:.1f} s")


ADMIN_PHONE = "+8613800000000"
_TRUSTED: dict[str, str] = {}


def sign_in(stack: Stack, account: str, password: str, phone: str) -> dict[str, Any]:
    """Password, then the code texted to `phone` (read from the emulator), trusting this device afterwards."""
    device = _TRUSTED.get(account)
    status, body, _ = stack.request("POST", "/auth/login", {"account": account, "password": password,
                                                            **({"device_token": device} if device else {})})
    assert status == 200, body
    if body.get("status") != "mfa_required":
        return body
    before = len(stack.sms_to(phone))
    status, sent, _ = stack.request("POST", "/auth/sms", {"challenge_id": body["challenge_id"]})
    assert status == 202, sent
    texts = wait_for(lambda: stack.sms_to(phone)[before:])
    code = re.search(r"验证码(\d{6})", texts[-1]).group(1)
    status, tokens, _ = stack.request("POST", "/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms",
                                                               "code": code, "trust_device": True})
    assert status == 200, tokens
    _TRUSTED[account] = tokens["device_token"]
    return tokens


def admin_login(stack: Stack) -> str:
    return sign_in(stack, "admin", "local-admin-pass", ADMIN_PHONE)["access_token"]


def admin_session(stack: Stack) -> Any:
    """The admin signed in for a fixture that outlives one test: its access token is renewed before it expires."""
    from tests.integration.helpers import FreshTokens

    return FreshTokens(StackApi(stack), "admin", "local-admin-pass",
                       answer=sign_in(stack, "admin", "local-admin-pass", ADMIN_PHONE))


def wait_for(predicate, timeout: float = PATIENCE, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
