"""Front-desk payment and its refund on the real local stack: the bill is paid, then unpaid again, and the
owner is texted (through the stack's SQS poller, as in AWS)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import StackApi, admin_login, wait_for
from tests.integration.helpers import activate

pytestmark = pytest.mark.e2e


def test_front_desk_payment_then_refund_reopens_the_bill_and_texts_the_owner(stack):
    admin = admin_login(stack)
    _, community, _ = stack.request("POST", "/staff/communities", {"name": "退款小区", "address": "上海"}, admin)
    cid = community["community_id"]
    _, building, _ = stack.request("POST", f"/staff/communities/{cid}/buildings", {"name": "5号楼"}, admin)
    _, unit, _ = stack.request("POST", "/staff/units", {"community_id": cid, "building_id": building["building_id"],
                                                        "unit_no": "502", "floor": 5, "area_m2": 80,
                                                        "layout": "2室"}, admin)
    phone, account = f"+86137{secrets.randbelow(10**8):08d}", f"refund{secrets.token_hex(3)}"
    status, issued, _ = stack.request("POST", "/staff/owners", {"name": "孙八", "phone": phone, "account": account,
                                                               "unit_ids": [unit["unit_id"]]}, admin)
    assert status == 201
    owner = activate(StackApi(stack), issued["user_id"], account, issued["initial_password"], phone).token
    due = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    status, bill, _ = stack.request("POST", "/staff/bills", {
        "unit_id": unit["unit_id"], "type": "parking", "period": "2026-11",
        "items": [{"code": "parking", "name": "停车费", "unit_price_cents": 15_000}], "due_date": due}, admin)
    assert status == 201
    status, payment, _ = stack.request("POST", "/staff/payments", {"bill_ids": [bill["bill_id"]], "method": "cash",
                                                                   "reference": "XJ-E2E-1"}, admin,
                                       headers={"Idempotency-Key": secrets.token_hex(8)})
    assert status == 201 and payment["status"] == "succeeded", payment
    assert stack.request("GET", f"/bills/{bill['bill_id']}", token=owner)[1]["status"] == "paid"
    assert wait_for(lambda: stack.request("GET", f"/payments/{payment['payment_id']}/receipt", token=owner)[0] == 200)
    status, refund, _ = stack.request("POST", f"/staff/payments/{payment['payment_id']}/refunds",
                                      {"amount_cents": 15_000, "reason": "收错", "bill_ids": [bill["bill_id"]]}, admin,
                                      headers={"Idempotency-Key": secrets.token_hex(8)})
    assert status == 201 and refund["status"] == "succeeded", refund
    assert stack.request("GET", f"/bills/{bill['bill_id']}", token=owner)[1]["status"] == "unpaid"
    seen = stack.request("GET", f"/payments/{payment['payment_id']}", token=owner)[1]
    assert seen["refunded_cents"] == 15_000 and seen["refunds"][0]["status"] == "succeeded"
    texts = wait_for(lambda: [t for t in stack.sms_to(phone) if "退款150.00元" in t])
    assert len(texts) == 1
