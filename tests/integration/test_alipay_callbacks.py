"""Alipay through the API under moto: the real adapter (built by `from_config` with the emulator's key, its
gateway calls routed to the emulator in-process) and the notices posted exactly as Alipay posts them."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlsplit

import pytest
from alipay import AliPay

from chalicelib import deps
from chalicelib.adapters.payments import alipay as ali
from chalicelib.adapters.payments.registry import Providers
from devstack.emulators import InProcessTransport
from devstack.emulators.alipay import AlipayEmulator
from tests.integration.test_bills_flow import billed_world, drain_jobs

APP_ID = "2021000123456789"
SELLER_ID = "2088102177846880"
CALLBACK = "/payments/callbacks/alipay"


def _keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def app_keys():
    return _keys()


@pytest.fixture
def alipay(app_keys):
    """Alipay served by the emulator for this test: `POST /payments` with `alipay` reaches the real adapter."""
    private, public = app_keys
    emulator = AlipayEmulator(APP_ID, SELLER_ID, public)
    provider = ali.from_config({"app_id": APP_ID, "seller_id": SELLER_ID, "app_private_key": private,
                                "alipay_public_key": emulator.public_key_base64,
                                "gateway": "https://alipay.local/alipay/gateway.do"},
                               notify_url="https://api.example.com" + CALLBACK,
                               transport=InProcessTransport(emulator))
    providers = Providers({"alipay": provider}, sandbox_for_all=False)
    with deps.override(payment_providers=lambda: providers), deps.rebuilt("payments") as service:
        yield emulator, provider, service


def _pay_alipay(world, owner, channel: str = "h5"):
    api = world.api
    ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    created = api.post("/payments", {"bill_ids": ids, "method": "alipay", "channel": channel}, token=owner.token,
                       headers={"Idempotency-Key": secrets.token_hex(8)})
    assert created.status == 201, created.body
    return created.body


def _post_notice(api, headers, body):
    return api.call("POST", CALLBACK, raw=body, headers=headers)


def _state(api, owner, payment_id):
    payment = api.get(f"/payments/{payment_id}", token=owner.token).body
    bills = [b["status"] for b in api.get("/bills", token=owner.token).body["items"]]
    return payment["status"], bills


def test_alipay_full_flow_wap_order_to_paid_bills(world, alipay, app_keys):
    emulator, _, _ = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    url = payment["provider_payload"]["pay_url"]
    # given the order URL the app opens, signed as the SDK signs it
    params = dict(parse_qsl(urlsplit(url).query))
    sdk = AliPay(appid=APP_ID, app_private_key_string=app_keys[0], alipay_public_key_string=app_keys[1])
    assert dict(parse_qsl(sdk.sign_data({k: v for k, v in params.items() if k != "sign"})))["sign"] == params["sign"]
    # a read while pending answers the very same order (signed once, kept)
    pending = api.get(f"/payments/{payment['payment_id']}", token=owner.token).body
    assert pending["provider_payload"] == payment["provider_payload"]
    # when the owner pays in Alipay's cashier and Alipay posts its notice
    emulator.open(url)
    headers, body = emulator.pay(payment["payment_id"])
    reply = _post_notice(api, headers, body)
    # then Alipay reads `success` and the bills are paid
    assert (reply.status, reply.raw) == (200, b"success")
    drain_jobs()
    status, bills = _state(api, owner, payment["payment_id"])
    assert status == "succeeded" and set(bills) == {"paid"}
    again = _post_notice(api, *emulator.notice(payment["payment_id"]))  # Alipay resends: the same reply
    assert (again.status, again.raw) == (200, b"success")


def test_alipay_gbk_notice_with_percent_20_pays(world, alipay):
    emulator, _, _ = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    emulator.open(payment["provider_payload"]["pay_url"])
    headers, body = emulator.pay(payment["payment_id"], charset="gbk", space="%20")
    assert b"%20" in body and b"+" not in body.replace(b"%2B", b"")
    reply = _post_notice(api, headers, body)
    assert (reply.status, reply.raw) == (200, b"success")
    assert _state(api, owner, payment["payment_id"])[0] == "succeeded"


def test_alipay_bad_notices_change_nothing(world, alipay):
    emulator, _, _ = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    emulator.open(payment["provider_payload"]["pay_url"])
    emulator.pay(payment["payment_id"])
    pid = payment["payment_id"]
    amount = ali.yuan(payment["amount_cents"])
    headers, good = emulator.notice(pid)
    tampered = good.replace(f"total_amount={amount}".encode(), b"total_amount=0.01")
    forger = AlipayEmulator(APP_ID, SELLER_ID, emulator.public_key_pem)
    forger.trades = emulator.trades
    _, forged = forger.notice(pid)
    _, other_app = emulator.notice(pid, app_id="2021000999999999")
    _, other_seller = emulator.notice(pid, seller_id="2088999999999999")
    _, wrong_amount = emulator.notice(pid, total_amount="0.01")
    _, other_payment = emulator.signed_notice({**emulator.notice_params(pid), "out_trade_no": "pay_0000000000000"})
    for body, expected in ((tampered, 401), (forged, 401), (other_app, 400), (other_seller, 400),
                           (wrong_amount, 400), (other_payment, 400)):
        reply = _post_notice(api, headers, body)
        assert reply.status == expected and reply.raw != b"success", body
        assert _state(api, owner, pid) == ("pending", ["processing"] * 3)


def test_alipay_replayed_notice_of_a_paid_payment_changes_nothing_more(world, alipay):
    emulator, _, _ = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    emulator.open(payment["provider_payload"]["pay_url"])
    headers, body = emulator.pay(payment["payment_id"])
    assert _post_notice(api, headers, body).raw == b"success"
    drain_jobs()
    before = api.get(f"/payments/{payment['payment_id']}", token=owner.token).body
    for _ in range(3):
        assert _post_notice(api, headers, body).raw == b"success"
    assert drain_jobs() == 0  # no second receipt
    assert api.get(f"/payments/{payment['payment_id']}", token=owner.token).body == before


def test_alipay_trade_closed_notice_fails_the_payment(world, alipay):
    emulator, _, _ = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    emulator.open(payment["provider_payload"]["pay_url"])
    emulator.trades[payment["payment_id"]].status = "TRADE_CLOSED"
    assert _post_notice(api, *emulator.notice(payment["payment_id"])).raw == b"success"
    status, bills = _state(api, owner, payment["payment_id"])
    assert status == "failed" and set(bills) == {"unpaid"}


def test_alipay_query_finds_a_paid_trade_whose_notice_was_lost(world, alipay):
    emulator, provider, service = alipay
    api = world.api
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner)
    emulator.open(payment["provider_payload"]["pay_url"])
    emulator.pay(payment["payment_id"])  # the notice never arrives
    record = deps.payments_store().get(payment["payment_id"])
    found = provider.query(record)
    assert found is not None and found.succeeded
    assert service.handle_notice(found) == "completed"  # applied exactly as a notice would be
    assert _state(api, owner, payment["payment_id"]) == ("succeeded", ["paid"] * 3)


def test_alipay_app_channel_answers_a_signed_order_string(world, alipay):
    emulator, _, _ = alipay
    billed_world(world)
    owner = world.owner()
    payment = _pay_alipay(world, owner, channel="app")
    order = payment["provider_payload"]["order_string"]
    assert dict(parse_qsl(order))["method"] == "alipay.trade.app.pay"
    assert emulator.open(order).total_cents == payment["amount_cents"]
