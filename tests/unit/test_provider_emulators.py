"""The local stack's provider emulator plumbing, with a tiny fake emulator: routing by prefix, what is played when
an emulator module is present, absent or broken (no sockets here; tests/integration serves it over HTTP)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from devstack.emulators import EmuAnswer, EmuRequest, InProcessTransport
from devstack.provider_server import dispatch, local_providers


class EchoEmulator:
    """Answers every request with what it received, as JSON."""

    prefix = "/echo"

    def __init__(self) -> None:
        self.seen: list[EmuRequest] = []

    def handle(self, request: EmuRequest) -> EmuAnswer:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("broken emulator")
        body = {"method": request.method, "path": request.path, "query": request.query,
                "signed": request.header("x-sign"), "body": request.body.decode()}
        return EmuAnswer(201, {"Content-Type": "application/json"}, json.dumps(body).encode())


def test_dispatch_hands_a_request_to_the_emulator_of_its_prefix():
    emulator = EchoEmulator()
    answer = dispatch([emulator], "POST", "/echo/v3/pay?mchid=1", {"X-Sign": "s"}, b"{}")
    assert answer.status == 201
    assert json.loads(answer.body) == {"method": "POST", "path": "/v3/pay", "query": "mchid=1", "signed": "s",
                                       "body": "{}"}


def test_dispatch_answers_404_for_paths_no_emulator_serves():
    emulator = EchoEmulator()
    assert dispatch([emulator], "GET", "/echoes/x", {}, b"").status == 404  # a prefix is a whole path segment
    assert dispatch([emulator], "GET", "/other", {}, b"").status == 404
    assert emulator.seen == []
    listing = dispatch([emulator], "GET", "/", {}, b"")
    assert listing.status == 200 and json.loads(listing.body) == {"emulators": ["/echo"]}


def test_dispatch_turns_an_emulator_failure_into_a_500_and_keeps_serving():
    emulator = EchoEmulator()
    assert dispatch([emulator], "GET", "/echo/boom", {}, b"").status == 500
    assert dispatch([emulator], "GET", "/echo/ok", {}, b"").status == 201


def test_in_process_transport_routes_the_same_way():
    emulator = EchoEmulator()
    answer = InProcessTransport(emulator).send("GET", "https://api.example.com/echo?x=1", {}, None)
    assert answer.status == 201 and json.loads(answer.body)["path"] == "/"


@pytest.fixture
def fake_module(monkeypatch):
    module = types.ModuleType("devstack.emulators.fakepay")
    module.__spec__ = types.SimpleNamespace(name=module.__name__)  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_local_providers_plays_each_emulator_present_with_the_config_pointing_at_it(fake_module):
    def setup(base_url):
        return EchoEmulator(), {"gateway": f"{base_url}/echo"}

    found = local_providers("http://127.0.0.1:4580", {"fakepay": ("devstack.emulators.fakepay", setup),
                                                      "absent": ("devstack.emulators.no_such_emulator", setup)})
    assert [(p.provider, p.emulator.prefix, p.config) for p in found.played] == [
        ("fakepay", "/echo", {"gateway": "http://127.0.0.1:4580/echo"})]
    assert found.notes == ["absent: no emulator in this checkout"]


def test_local_providers_prefers_the_modules_own_setup_and_survives_a_broken_one(fake_module):
    fake_module.local_provider = lambda base_url: (EchoEmulator(), {"own": base_url})

    def broken(base_url):
        raise TypeError("unexpected keyword argument")

    found = local_providers("http://h", {"fakepay": ("devstack.emulators.fakepay", broken)})
    assert found.played[0].config == {"own": "http://h"}
    fake_module.local_provider = broken
    found = local_providers("http://h", {"fakepay": ("devstack.emulators.fakepay", broken)})
    assert found.played == [] and found.notes[0].startswith("fakepay: the emulator did not start (TypeError")


def test_paying_locally_posts_the_emulators_notice_to_our_notify_url():
    from devstack.provider_server import LocalProvider, pay_locally

    posted = []
    played = [LocalProvider("fakepay", EchoEmulator(), {},
                            pay=lambda trade: ("http://127.0.0.1:8000/payments/callbacks/fakepay",
                                               {"X-Sign": "s"}, f"paid {trade}".encode()))]

    def post(url, headers, body):
        posted.append((url, headers, body))
        return 200, b"success"

    answer = pay_locally(played, "provider=fakepay&out_trade_no=pay_1", post)
    assert answer.status == 200 and json.loads(answer.body)["reply"] == "success"
    assert posted == [("http://127.0.0.1:8000/payments/callbacks/fakepay", {"X-Sign": "s"}, b"paid pay_1")]
    assert pay_locally(played, "provider=other&out_trade_no=pay_1", post).status == 404


def test_paying_locally_says_why_an_emulator_refuses():
    from devstack.provider_server import LocalProvider, pay_locally

    def refuse(trade):
        raise LookupError("no such order")

    answer = pay_locally([LocalProvider("fakepay", EchoEmulator(), {}, pay=refuse)],
                         "provider=fakepay&out_trade_no=pay_9", lambda *a: (200, b""))
    assert answer.status == 409 and "no such order" in json.loads(answer.body)["message"]
