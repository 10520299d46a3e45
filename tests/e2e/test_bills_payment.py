"""An owner pays a bill through the sandbox on the real local stack and downloads the PDF receipt."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
import urllib.request

import pytest

from tests.e2e.conftest import REQUEST_TIMEOUT, StackApi, admin_login, wait_for
from tests.integration.helpers import activate

pytestmark = pytest.mark.e2e


def test_owner_pays_through_sandbox_callback_and_downloads_the_receipt(stack):
    admin = admin_login(stack)
    _, community, _ = stack.request("POST", "/staff/communities", {"name": "支付小区", "address": "上海"}, admin)
    cid = community["community_id"]
    _, building, _ = stack.request("POST", f"/staff/communities/{cid}/buildings", {"name": "3号楼"}, admin)
    _, unit, _ = stack.request("POST", "/staff/units", {"community_id": cid, "building_id": building["building_id"],
                                                        "unit_no": "1201", "floor": 12, "area_m2": 100,
                                                        "layout": "3室"}, admin)
    schedule = {"property_items": [{"code": "cleaning", "name": "保洁费", "rate_cents_per_m2": 80}],
                "water_cents_per_ton": 450, "electricity_cents_per_kwh": 62, "due_days": 15}
    assert stack.request("PUT", f"/staff/communities/{cid}/fee-schedule", schedule, admin)[0] == 200
    phone, account = f"+86137{secrets.randbelow(10**8):08d}", f"payer{secrets.token_hex(3)}"
    status, issued, _ = stack.request("POST", "/staff/owners", {"name": "钱七", "phone": phone, "account": account,
                                                               "unit_ids": [unit["unit_id"]]}, admin)
    assert status == 201
    owner = activate(StackApi(stack), issued["user_id"], account, issued["initial_password"], phone).token
    status, run, _ = stack.request("POST", "/staff/billing-runs", {"community_id": cid, "period": "2026-10"}, admin)
    assert status == 202
    assert wait_for(lambda: stack.request("GET", f"/staff/billing-runs/{run['run_id']}", token=admin)[1]["status"]
                    == "done")
    bills = stack.request("GET", "/bills?status=unpaid", token=owner)[1]["items"]
    assert [b["total_cents"] for b in bills] == [8000]
    # `card` has no provider configured locally, so the sandbox stands in for it (Alipay and WeChat Pay, when
    # their emulators are present, go through the real adapters instead).
    status, payment, _ = stack.request("POST", "/payments", {"bill_ids": [bills[0]["bill_id"]], "method": "card"},
                                       owner, headers={"Idempotency-Key": secrets.token_hex(8)})
    assert status == 201 and payment["provider_payload"]["pay_url"]
    raw = json.dumps({"payment_id": payment["payment_id"], "provider_txn_id": "sbx-e2e", "amount_cents": 8000,
                      "status": "succeeded"}).encode()
    signature = hmac.new(b"local-sandbox-secret", raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(stack.api_url + "/payments/callbacks/sandbox", data=raw, method="POST",
                                     headers={"Content-Type": "application/json", "X-Sandbox-Signature": signature})
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
        assert answer.status == 200
    status, receipt, _ = stack.request("GET", f"/payments/{payment['payment_id']}/receipt", token=owner)
    assert status == 200
    with urllib.request.urlopen(receipt["url"], timeout=REQUEST_TIMEOUT) as answer:
        pdf = answer.read()
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert receipt["receipt_no"] in text
    # the verification link names the API this stack actually serves (a free port here, never the default 8000)
    assert f"{stack.api_url}/receipts/{receipt['receipt_no']}/verify?code=" in text.replace("\n", "")
