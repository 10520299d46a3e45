"""`make run`'s provider emulators over real HTTP (a tiny fake emulator on a free local port), and the local
stage's provider secrets pointed at what is played."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from devstack.emulators import EmuAnswer, EmuRequest
from devstack.provider_server import LocalProvider, ProviderServer, configure_secrets


class EchoEmulator:
    prefix = "/echo"

    def handle(self, request: EmuRequest) -> EmuAnswer:
        body = {"method": request.method, "path": request.path, "query": request.query,
                "signed": request.header("X-Sign"), "body": request.body.decode()}
        return EmuAnswer(200, {"Content-Type": "application/json", "X-Echo": "1"}, json.dumps(body).encode())


@pytest.fixture
def server():
    running = ProviderServer("127.0.0.1", 0)
    running.start([EchoEmulator()])
    yield running
    running.stop()


def _call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_provider_server_serves_each_emulator_under_its_prefix(server):
    status, headers, body = _call(f"{server.url}/echo/v3/refund?x=1", b'{"a": 1}', {"X-Sign": "abc"})
    assert status == 200 and headers["X-Echo"] == "1"
    assert json.loads(body) == {"method": "POST", "path": "/v3/refund", "query": "x=1", "signed": "abc",
                                "body": '{"a": 1}'}
    assert _call(f"{server.url}/nothing")[0] == 404
    # the connection is kept usable across requests (HTTP/1.1 with lengths)
    assert _call(f"{server.url}/")[0] == 200


def test_configure_secrets_points_the_local_providers_at_the_emulators(aws):
    from chalicelib import deps
    from chalicelib.adapters.secrets import read_secret_string

    client = deps.aws_client("secretsmanager")
    name = deps.get_settings().name
    try:
        configure_secrets([LocalProvider("wechat", EchoEmulator(), {"api_base": "http://127.0.0.1:1/echo"})])
        assert json.loads(read_secret_string(client, name("payments-wechat"))) == {
            "api_base": "http://127.0.0.1:1/echo"}
        assert read_secret_string(client, name("payments-alipay")) == "{}"  # not played: the sandbox stands in
    finally:
        configure_secrets([])
    assert read_secret_string(client, name("payments-wechat")) == "{}"
