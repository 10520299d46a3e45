"""WeChat Pay v3 through the API under moto: the real adapter (built with `from_config`) talks in-process to the
WeChat Pay emulator, and the emulator's signed, encrypted notices are posted to our callback as WeChat Pay
posts them. Only this module's tests serve `wechat` (deps.payment_providers is replaced inside each test)."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from chalicelib import deps
from chalicelib.adapters.payments.registry import Providers
from tests.integration.test_bills_flow import billed_world, drain_jobs
from tests.unit.test_wechat_pay import NOTIFY_URL, merchant, sdk_signed_notice


@pytest.fixture
def wechat():
    """WeChat Pay (the emulator) serving `wechat` for the test; yields the merchant (emulator, adapter)."""
    m = merchant()
    with deps.rebuilt("payments", payment_providers=Providers({"wechat": m.provider}, sandbox_for_all=False)):
        yield m


def _unpaid(world):
    billed_world(world)
    owner = world.owner()
    bills = world.api.get("/bills?status=unpaid", token=owner.token).body["items"]
    return owner, [b["bill_id"] for b in bills], sum(b["total_cents"] for b in bills)


def _pay(api, owner, bill_ids, **body):
    return api.post("/payments", {"bill_ids": bill_ids, "method": "wechat", **body}, token=owner.token,
                    headers={"Idempotency-Key": secrets.token_hex(8)})


def _notify(api, headers, body):
    return api.call("POST", "/payments/callbacks/wechat", raw=body, headers=headers)


def _statuses(api, owner):
    return {b["status"] for b in api.get("/bills", token=owner.token).body["items"]}


def test_wechat_jsapi_payment_from_order_to_paid_bills(world, wechat):
    api = world.api
    owner, bill_ids, total = _unpaid(world)
    # when the owner pays inside WeChat
    created = _pay(api, owner, bill_ids, channel="jsapi", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    # then the page gets what getBrandWCPayRequest takes, for an order WeChat Pay holds
    assert created.status == 201, created.body
    params = created.body["provider_payload"]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    order = wechat.emulator.orders[created.body["payment_id"]]
    assert params["package"] == f"prepay_id={order.prepay_id}" and order.request["amount"]["total"] == total
    assert order.request["payer"]["openid"] == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert order.request["notify_url"] == NOTIFY_URL
    # reading the payment again gives the same order (not a second one)
    again = api.get(f"/payments/{created.body['payment_id']}", token=owner.token).body
    assert again["provider_payload"] == params and len(wechat.emulator.orders) == 1
    # when WeChat Pay notifies the payment (twice, as it may)
    headers, body = wechat.emulator.pay(created.body["payment_id"])
    first, second = _notify(api, headers, body), _notify(api, headers, body)
    # then
    assert (first.status, second.status) == (204, 204) and first.raw == b""
    drain_jobs()
    paid = api.get(f"/payments/{created.body['payment_id']}", token=owner.token).body
    assert paid["status"] == "succeeded" and paid["receipt_no"]
    assert paid["provider_txn_id"] == order.transaction_id
    assert _statuses(api, owner) == {"paid"}


def test_wechat_h5_payment_from_order_to_paid_bills(world, wechat):
    api = world.api
    owner, bill_ids, _ = _unpaid(world)
    created = _pay(api, owner, bill_ids, channel="h5")
    assert created.status == 201, created.body
    assert created.body["provider_payload"]["h5_url"].startswith("https://wx.tenpay.com/")
    order = wechat.emulator.orders[created.body["payment_id"]]
    assert order.trade_type == "MWEB" and order.request["scene_info"]["payer_client_ip"] == "127.0.0.1"
    assert _notify(api, *wechat.emulator.pay(created.body["payment_id"])).status == 204
    assert api.get(f"/payments/{created.body['payment_id']}", token=owner.token).body["status"] == "succeeded"
    assert _statuses(api, owner) == {"paid"}


def test_wechat_bad_notices_change_nothing(world, wechat):
    api = world.api
    owner, bill_ids, total = _unpaid(world)
    payment_id = _pay(api, owner, bill_ids, channel="jsapi", openid="oUser").body["payment_id"]
    headers, body = wechat.emulator.pay(payment_id)
    resource = {"mchid": wechat.emulator.mch_id, "appid": wechat.emulator.app_id, "out_trade_no": payment_id,
                "transaction_id": "4200000000000000000000000001", "trade_state": "SUCCESS",
                "amount": {"total": total, "payer_total": total, "currency": "CNY"}}
    from tests.unit.test_wechat_pay import key_pair

    platform_private = key_pair(1)[0]  # the emulator's platform key (see `merchant`)
    serial, api_key = wechat.emulator.platform_serial, wechat.api_v3_key
    attempts = {
        "tampered": (401, (headers, body.replace(b'"id": "EV-', b'"id": "EX-'))),
        "forged": (401, sdk_signed_notice(key_pair(3)[0], serial, api_key, "TRANSACTION.SUCCESS", resource)),
        "old": (401, sdk_signed_notice(platform_private, serial, api_key, "TRANSACTION.SUCCESS", resource,
                                       timestamp=int(time.time()) - 600)),
        "another merchant": (400, sdk_signed_notice(platform_private, serial, api_key, "TRANSACTION.SUCCESS",
                                                    {**resource, "mchid": "1900000999"})),
        "another amount": (400, sdk_signed_notice(platform_private, serial, api_key, "TRANSACTION.SUCCESS",
                                                  {**resource, "amount": {"total": 1, "currency": "CNY"}})),
        "another APIv3 key": (400, sdk_signed_notice(platform_private, serial, "0" * 32, "TRANSACTION.SUCCESS",
                                                     resource)),
    }
    for name, (status, (bad_headers, bad_body)) in attempts.items():
        answer = _notify(api, bad_headers, bad_body)
        assert answer.status == status, (name, answer.body)
        assert api.get(f"/payments/{payment_id}", token=owner.token).body["status"] == "pending", name
        assert _statuses(api, owner) == {"processing"}, name
    # the genuine notice still completes the payment, once
    assert _notify(api, headers, body).status == 204
    assert api.get(f"/payments/{payment_id}", token=owner.token).body["status"] == "succeeded"


def test_wechat_query_completes_a_payment_whose_notice_was_lost(world, wechat):
    api = world.api
    owner, bill_ids, _ = _unpaid(world)
    payment_id = _pay(api, owner, bill_ids, channel="jsapi", openid="oUser").body["payment_id"]
    stored = deps.payments_store().get(payment_id)
    assert wechat.provider.query(stored) is None  # not paid yet
    wechat.emulator.pay(payment_id)  # the owner pays; the notice never arrives
    # when the order is queried (what reconciliation does) and the answer applied as a notice would be
    found = wechat.provider.query(stored)
    assert found is not None and found.succeeded
    assert deps.payments().handle_notice(found) == "completed"
    # then
    assert api.get(f"/payments/{payment_id}", token=owner.token).body["status"] == "succeeded"
    assert _statuses(api, owner) == {"paid"}
    # and the notice arriving late changes nothing more
    assert _notify(api, *wechat.emulator.notice("TRANSACTION.SUCCESS", "transaction",
                                                wechat.emulator._transaction(wechat.emulator.orders[payment_id])))\
        .status == 204


def test_wechat_jsapi_without_openid_is_a_field_error(world, wechat):
    api = world.api
    owner, bill_ids, _ = _unpaid(world)
    answer = _pay(api, owner, bill_ids, channel="jsapi")
    assert answer.status == 400 and answer.code == "validation_error"
    assert "openid" in answer.body["details"]["fields"]
    assert wechat.emulator.orders == {} and wechat.transport.sent == []


def test_wechat_jsapi_without_openid_leaves_the_bills_payable(world, wechat):
    api = world.api
    owner, bill_ids, _ = _unpaid(world)
    assert _pay(api, owner, bill_ids, channel="jsapi").status == 400
    assert _statuses(api, owner) == {"unpaid"}


def test_wechat_refund_notice_verifies_at_the_callback_adapter(world, wechat):
    # The refund itself is staff's (issue 14 item 4); here: a refund notice through our adapter is a
    # RefundNotice, not a rejection.
    api = world.api
    owner, bill_ids, total = _unpaid(world)
    payment_id = _pay(api, owner, bill_ids, channel="jsapi", openid="oUser").body["payment_id"]
    assert _notify(api, *wechat.emulator.pay(payment_id)).status == 204
    from chalicelib.domain.payments import RefundNotice, RefundRequest

    request = RefundRequest("rf_" + payment_id[4:], payment_id, "", total, total, "测试退款")
    assert wechat.provider.refund(request).status == "pending"
    headers, body = wechat.emulator.settle_refund(request.refund_id)
    notice = wechat.provider.parse(headers, body)
    assert isinstance(notice, RefundNotice) and (notice.status, notice.amount_cents) == ("succeeded", total)
    assert json.loads(body)["event_type"] == "REFUND.SUCCESS"
