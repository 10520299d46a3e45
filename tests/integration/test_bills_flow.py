"""Bills and payments through the API under moto (API.md §6)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import pytest

from tests.integration.helpers import race, read_together

SECRET = "local-sandbox-secret"
SCHEDULE = {"property_items": [{"code": "cleaning", "name": "保洁费", "rate_cents_per_m2": 80},
                               {"code": "security", "name": "保安费", "rate_cents_per_m2": 55}],
            "water_cents_per_ton": 450, "electricity_cents_per_kwh": 62, "due_days": 15}


@pytest.fixture
def serializable_transactions():
    """Kept for readability at the call sites: the integration conftest isolates every write for all tests."""


def drain_jobs() -> int:
    """Run what the jobs queue holds, as the SQS consumer would (the local stack's poller does the same)."""
    from chalicelib import deps
    from chalicelib.events import jobs
    from chalicelib.resources import JOBS_QUEUE

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name(JOBS_QUEUE))["QueueUrl"]
    handled = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        for m in messages:
            body = json.loads(m["Body"])
            try:
                jobs.run(body["kind"], body["payload"])
            finally:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            handled += 1


def sandbox_callback(api, payment_id: str, amount: int, status: str = "succeeded", txn: str | None = None,
                     secret: str = SECRET):
    raw = json.dumps({"payment_id": payment_id, "provider_txn_id": txn or f"sbx_{payment_id}",
                      "amount_cents": amount, "status": status}).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return api.call("POST", "/payments/callbacks/sandbox", raw=raw, headers={"X-Sandbox-Signature": signature})


def billed_world(world, period: str = "2026-10"):
    api = world.api
    assert api.put(f"/staff/communities/{world.community_id}/fee-schedule", SCHEDULE, token=world.admin).status == 200
    for unit in world.unit_ids:
        for kind, before, now in (("water", "100", "112.5"), ("electricity", "1000", "1250")):
            prev = api.post("/staff/meter-readings", {"unit_id": unit, "kind": kind, "period": "2026-09",
                                                      "reading": before}, token=world.staff.token)
            assert prev.status == 201, prev.body
            assert api.post("/staff/meter-readings", {"unit_id": unit, "kind": kind, "period": period,
                                                      "reading": now}, token=world.staff.token).status == 201
    started = api.post("/staff/billing-runs", {"community_id": world.community_id, "period": period},
                       token=world.staff.token)
    assert started.status == 202 and started.body["status"] == "running", started.body
    drain_jobs()
    return started.body["run_id"]


def pay(api, owner, bill_ids, key=None, method="sandbox"):
    return api.post("/payments", {"bill_ids": bill_ids, "method": method}, token=owner.token,
                    headers={"Idempotency-Key": key or secrets.token_hex(8)})


def test_billing_run_creates_itemised_bills_once(world):
    api = world.api
    run_id = billed_world(world)
    run = api.get(f"/staff/billing-runs/{run_id}", token=world.staff.token)
    assert run.body["status"] == "done" and run.body["bills_created"] == 9
    owner = world.owner()
    bills = api.get("/bills", token=owner.token).body["items"]
    by_type = {b["type"]: b for b in bills}
    assert set(by_type) == {"property", "water", "electricity"}
    # 89.56 m² × 80 = 7164.8 → 7165; × 55 = 4925.8 → 4926
    assert [i["amount_cents"] for i in by_type["property"]["items"]] == [7165, 4926]
    assert by_type["property"]["total_cents"] == 12091
    assert by_type["water"]["total_cents"] == 5625 and by_type["electricity"]["total_cents"] == 15500
    again = api.post("/staff/billing-runs", {"community_id": world.community_id, "period": "2026-10"},
                     token=world.staff.token)
    assert again.status == 202 and again.body["run_id"] == run_id
    drain_jobs()
    listed = api.get(f"/staff/bills?community_id={world.community_id}&period=2026-10&limit=100",
                     token=world.staff.token).body["items"]
    assert len(listed) == 9


def test_meter_reading_lower_than_previous_is_refused(world):
    api = world.api
    unit = world.unit_ids[0]
    assert api.post("/staff/meter-readings", {"unit_id": unit, "kind": "water", "period": "2026-01",
                                              "reading": 50}, token=world.staff.token).status == 201
    lower = api.post("/staff/meter-readings", {"unit_id": unit, "kind": "water", "period": "2026-02",
                                               "reading": 49.5}, token=world.staff.token)
    assert lower.status == 400 and lower.code == "validation_error"


def test_owner_pays_through_sandbox_and_gets_a_verifiable_receipt(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    unpaid = api.get("/bills?status=unpaid", token=owner.token).body["items"]
    summary = api.get("/bills/summary", token=owner.token).body
    assert summary["unpaid_count"] == 3 and summary["unpaid_total_cents"] == sum(b["total_cents"] for b in unpaid)
    ids = [b["bill_id"] for b in unpaid]
    created = pay(api, owner, ids, key="k1")
    assert created.status == 201, created.body
    payment = created.body
    assert payment["status"] == "pending" and payment["provider_payload"]["pay_url"].startswith("sandbox://")
    assert all(b["status"] == "processing" for b in api.get("/bills", token=owner.token).body["items"])
    assert api.get(f"/payments/{payment['payment_id']}/receipt", token=owner.token).code == "not_paid"
    assert sandbox_callback(api, payment["payment_id"], payment["amount_cents"], secret="wrong").status == 401
    done = sandbox_callback(api, payment["payment_id"], payment["amount_cents"])
    assert done.status == 200 and done.body == {"ok": True}
    drain_jobs()
    paid = api.get(f"/payments/{payment['payment_id']}", token=owner.token).body
    assert paid["status"] == "succeeded" and paid["receipt_no"]
    assert all(b["status"] == "paid" for b in api.get("/bills", token=owner.token).body["items"])
    receipt = api.get(f"/payments/{payment['payment_id']}/receipt", token=owner.token)
    assert receipt.status == 200 and receipt.body["expires_in"] == 300
    assert _receipt_text(receipt.body["receipt_no"]).count(receipt.body["receipt_no"]) >= 1
    history = api.get("/me/history", token=owner.token)
    if history.status == 200:
        assert {"payment.created", "payment.succeeded"} <= {e["action"] for e in history.body["items"]}
    from chalicelib import deps
    from chalicelib.domain.payments import receipt_code

    code = receipt_code(deps.keyring().long_lived("receipt-code-v1"), receipt.body["receipt_no"])
    ok = api.get(f"/receipts/{receipt.body['receipt_no']}/verify?code={code}")
    assert ok.status == 200 and ok.body["valid"] is True and ok.body["amount_cents"] == payment["amount_cents"]
    assert api.get(f"/receipts/{receipt.body['receipt_no']}/verify?code=WRONG").status == 404


def test_idempotency_key_replays_and_refuses_another_body(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    first = pay(api, owner, ids[:1], key="same")
    again = pay(api, owner, ids[:1], key="same")
    assert first.status == again.status == 201 and first.body["payment_id"] == again.body["payment_id"]
    other = pay(api, owner, ids[1:2], key="same")
    assert other.status == 422 and other.code == "idempotency_key_reused"
    missing = api.post("/payments", {"bill_ids": ids[1:2], "method": "sandbox"}, token=owner.token)
    assert missing.status == 400
    assert pay(api, owner, ids[:1]).code == "bill_in_payment"


def test_concurrent_payments_for_one_bill_only_one_wins(world, serializable_transactions):
    # Chalice's test client shares `current_request` between threads, so the race runs one layer down: the
    # same idempotent create-payment function the route calls, five callers at once with their own keys.
    from chalicelib import deps
    from chalicelib.errors import Conflict

    api = world.api
    billed_world(world)
    owner = world.owner()
    bill = api.get("/bills?status=unpaid", token=owner.token).body["items"][0]["bill_id"]
    caller = deps.session_service().authenticate(owner.token)
    _, create = deps.idempotent_create_payment()

    def attempt(i: int) -> str:
        request = {"caller": caller.user_id, "key": f"race-{i}", "body": {"bill_ids": [bill], "method": "sandbox"}}
        try:
            create(request=request, principal=caller)
        except Conflict as refused:
            return refused.code
        return "created"

    # every caller has seen the bill unpaid before any of them writes: only the store's conditions decide
    with read_together(deps.payments()._bills, "get_many", 5):
        outcomes = race([lambda i=i: attempt(i) for i in range(5)])
    assert sorted(outcomes) == ["bill_in_payment"] * 4 + ["created"]


def test_duplicate_concurrent_callbacks_pay_once(world, serializable_transactions):
    from chalicelib import deps

    api = world.api
    billed_world(world)
    owner = world.owner()
    ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    payment = pay(api, owner, ids).body
    # all ten notices find the payment pending before any of them completes it (the requests are identical,
    # so Chalice's shared `current_request` cannot mix them up)
    with read_together(deps.payments()._payments, "get", 10):
        replies = race([lambda: sandbox_callback(api, payment["payment_id"], payment["amount_cents"])] * 10)
    assert [r.status for r in replies] == [200] * 10
    assert [e.entry for e in deps.payments_store().ledger(payment["payment_id"])] == ["captured"]
    assert api.get(f"/payments/{payment['payment_id']}", token=owner.token).body["status"] == "succeeded"


def test_late_notice_completes_an_expired_payment_or_records_a_refund(world, monkeypatch):
    api = world.api
    billed_world(world)
    owner = world.owner()
    ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    first = pay(api, owner, ids[:1]).body
    _expire_now(first["payment_id"])
    assert api.get(f"/payments/{first['payment_id']}", token=owner.token).body["status"] == "expired"
    assert api.get(f"/bills/{ids[0]}", token=owner.token).body["status"] == "unpaid"
    assert sandbox_callback(api, first["payment_id"], first["amount_cents"]).status == 200
    assert api.get(f"/bills/{ids[0]}", token=owner.token).body["status"] == "paid"
    # an expired payment whose bill was paid by another payment meanwhile → refund case, no bill change
    second = pay(api, owner, ids[1:2]).body
    _expire_now(second["payment_id"])
    from chalicelib import deps

    deps.payments().sweep_expired()
    third = pay(api, owner, ids[1:2]).body
    assert sandbox_callback(api, third["payment_id"], third["amount_cents"]).status == 200
    assert sandbox_callback(api, second["payment_id"], second["amount_cents"], txn="late").status == 200
    late = api.get(f"/payments/{second['payment_id']}", token=owner.token).body
    # refunded in full at once (the sandbox refunds synchronously), no bill changed
    assert late["status"] == "expired" and late["refunded_cents"] == second["amount_cents"]
    assert [r["status"] for r in late["refunds"]] == ["succeeded"] and "refund_status" not in late
    assert api.get(f"/bills/{ids[1]}", token=owner.token).body["payment_id"] == third["payment_id"]
    entries = [e.entry.split("#")[0] for e in deps.payments_store().ledger(second["payment_id"])]
    assert entries == ["refund", "refund_due"]


def _expire_now(payment_id: str) -> None:
    from chalicelib.adapters.dynamo.billing_models import BillModel, OwnerBillModel, PaymentModel

    # as if the hold's time had passed: the bills and their owners' copies carry the same hold
    m = PaymentModel.get(payment_id)
    m.update(actions=[PaymentModel.expires_at.set(1)])
    for bill_id in m.bill_ids:
        bill = BillModel.get(bill_id)
        bill.update(actions=[BillModel.hold_until.set(1)])
        for owner_id in bill.owner_ids or ():
            OwnerBillModel(owner_id, f"{bill.period}#{bill_id}").update(actions=[OwnerBillModel.hold_until.set(1)])


@pytest.mark.parametrize("failing_call", [1, 2])
def test_a_dynamodb_failure_at_each_write_step_leaves_consistent_state(world, failing_call):
    """Fail the n-th DynamoDB write of a callback; the provider's retry finishes the job."""
    api = world.api
    billed_world(world)
    owner = world.owner()
    ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    payment = pay(api, owner, ids).body
    from botocore.exceptions import ClientError

    from chalicelib.adapters.dynamo import repositories

    client = repositories.connection().client
    writes = {"n": 0}

    def fail(model, params, **_):
        if model.name not in ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem"):
            return
        writes["n"] += 1
        if writes["n"] == failing_call:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, model.name)

    client.meta.events.register("before-call.dynamodb.*", fail, unique_id="inject-failure")
    try:
        first = sandbox_callback(api, payment["payment_id"], payment["amount_cents"])
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", unique_id="inject-failure")
    assert writes["n"] >= failing_call or first.status == 200
    state = api.get(f"/payments/{payment['payment_id']}", token=owner.token).body["status"]
    statuses = {b["status"] for b in api.get("/bills", token=owner.token).body["items"]}
    if first.status != 200:
        assert state == "pending" and statuses == {"processing"}
    retry = sandbox_callback(api, payment["payment_id"], payment["amount_cents"])
    assert retry.status == 200
    assert api.get(f"/payments/{payment['payment_id']}", token=owner.token).body["status"] == "succeeded"
    assert {b["status"] for b in api.get("/bills", token=owner.token).body["items"]} == {"paid"}


def test_foreign_bills_and_payments_are_not_found(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    neighbour = world.owner([world.unit_ids[1]])
    bill = api.get("/bills", token=owner.token).body["items"][0]["bill_id"]
    assert api.get(f"/bills/{bill}", token=neighbour.token).status == 404
    assert pay(api, neighbour, [bill]).status == 404
    payment = pay(api, owner, [bill]).body
    assert api.get(f"/payments/{payment['payment_id']}", token=neighbour.token).status == 404


def _receipt_text(receipt_no: str) -> str:
    import io

    from pypdf import PdfReader

    from chalicelib import deps

    s3 = deps.aws_client("s3")
    obj = s3.get_object(Bucket=deps.get_settings().name("receipts"), Key=f"receipts/{receipt_no}.pdf")
    assert obj["ServerSideEncryption"] == "AES256"
    reader = PdfReader(io.BytesIO(obj["Body"].read()))
    return "".join(page.extract_text() for page in reader.pages)
