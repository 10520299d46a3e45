"""`POST /payments` and its Idempotency-Key (API.md §6), inside the 24 h replay window and after it."""

from __future__ import annotations

from tests.integration.test_bills_flow import billed_world, pay


def _replay_records() -> dict[str, int]:
    from chalicelib.adapters.dynamo.billing_models import IdempotencyModel

    return {m.id: m.expiration for m in IdempotencyModel.scan()}


def _expire_replay_record(record_id: str) -> None:
    """What 24 h do to a record: its expiry passes (DynamoDB's TTL deletes it late, moto never does)."""
    from datetime import UTC, datetime

    from chalicelib.adapters.dynamo.billing_models import IdempotencyModel

    IdempotencyModel(record_id).update(actions=[IdempotencyModel.expiration.set(datetime.fromtimestamp(1, UTC))])


def _unpaid(api, owner) -> list[str]:
    return sorted(b["bill_id"] for b in api.get("/bills", token=owner.token).body["items"] if b["status"] == "unpaid")


def test_payment_idempotency_key_after_its_replay_record_expired_never_answers_the_old_payment(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    first_bill, other_bill, _ = _unpaid(api, owner)
    before = set(_replay_records())
    first = pay(api, owner, [first_bill], key="rent-october")
    assert first.status == 201, first.body
    (record,) = set(_replay_records()) - before
    _expire_replay_record(record)
    # when: the same key, a day later, for another bill
    other = pay(api, owner, [other_bill], key="rent-october")
    # then: refused, not the first payment; the other bill is untouched
    assert other.status == 422 and other.code == "idempotency_key_reused", other.body
    bills = {b["bill_id"]: b["status"] for b in api.get("/bills", token=owner.token).body["items"]}
    assert bills[other_bill] == "unpaid" and bills[first_bill] == "processing"
    payments = api.get("/payments", token=owner.token).body["items"]
    assert [p["payment_id"] for p in payments] == [first.body["payment_id"]]
    # the same request again after expiry is still the same payment, never a second one
    again = pay(api, owner, [first_bill], key="rent-october")
    assert again.status == 201 and again.body["payment_id"] == first.body["payment_id"]
    assert len(api.get("/payments", token=owner.token).body["items"]) == 1
    # a new key pays the other bill
    fresh = pay(api, owner, [other_bill], key="rent-october-2")
    assert fresh.status == 201 and fresh.body["bill_ids"] == [other_bill]


def test_payment_idempotency_key_within_the_window_replays_the_same_body_in_any_order(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    a, b, c = _unpaid(api, owner)
    first = pay(api, owner, [b, a], key="both")
    assert first.status == 201, first.body
    same = pay(api, owner, [a, b], key="both")
    assert same.status == 201 and same.body["payment_id"] == first.body["payment_id"]
    other_method = pay(api, owner, [a, b], key="both", method="alipay")
    other_bills = pay(api, owner, [a, c], key="both")
    assert other_method.code == other_bills.code == "idempotency_key_reused"
    assert other_method.status == other_bills.status == 422
    assert _unpaid(api, owner) == [c]


def test_payment_without_an_idempotency_key_is_a_400_naming_the_header(world):
    api = world.api
    owner = world.owner()
    for headers in ({}, {"Idempotency-Key": "k" * 256}):
        reply = api.post("/payments", {"bill_ids": ["b_1"], "method": "sandbox"}, token=owner.token, headers=headers)
        assert reply.status == 400 and reply.code == "validation_error", reply.body
        assert list(reply.body["details"]["fields"]) == ["Idempotency-Key"]
    assert api.get("/payments", token=owner.token).body["items"] == []
