"""The idempotent core of `POST /payments` (wrapped by Powertools' idempotency in `deps`)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.model import Principal


def payment_json(payment: Any, provider_payload: dict[str, Any] | None = None) -> dict[str, Any]:
    from chalicelib.domain.ids import iso

    body: dict[str, Any] = {
        "payment_id": payment.payment_id, "status": payment.status, "amount_cents": payment.amount_cents,
        "method": payment.method, "bill_ids": list(payment.bill_ids), "created_at": payment.created_at,
        "expires_at": _iso_epoch(payment.expires_at, iso),
    }
    if payment.paid_at:
        body["paid_at"] = payment.paid_at
    if payment.provider_txn_id and payment.status == "succeeded":
        body["provider_txn_id"] = payment.provider_txn_id
    if payment.receipt_no:
        body["receipt_no"] = payment.receipt_no
    if payment.refund_case:
        body["refund_status"] = "pending"
    if provider_payload is not None:
        body["provider_payload"] = provider_payload
    return body


def _iso_epoch(epoch: int, iso: Any) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(epoch, tz=UTC))


def create_payment_response(request: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """Create (or find) the payment for this caller and key; returns the 201 body (cached 24 h)."""
    from chalicelib import deps
    from chalicelib.domain.payments import payment_id_for

    service = deps.payments()
    payment_id = payment_id_for(deps.payment_id_key(), request["caller"], request["key"])
    payment = service.create(principal, payment_id, tuple(request["body"]["bill_ids"]), request["body"]["method"])
    return payment_json(payment, service.provider_payload(payment))
