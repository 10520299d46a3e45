"""Payments, provider callbacks and e-receipts (API.md §6)."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, principal, route
from chalicelib.domain.payments import METHODS, Payment
from chalicelib.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed, field_error
from chalicelib.observability import count, logger

bp = Blueprint(__name__)
MAX_KEY = 255
RECEIPT_TOKEN = re.compile(r"[A-Za-z0-9]{1,64}")  # receipt numbers and verification codes are ASCII


def payment_json(payment: Payment, provider_payload: dict[str, Any] | None = None) -> dict[str, Any]:
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


def _idempotency_key() -> str:
    key = (bp.current_request.headers.get("idempotency-key") or "").strip()
    if not key:
        raise ValidationFailed("The Idempotency-Key header is required.",
                               details={"fields": {"Idempotency-Key": "is required"}})
    if len(key) > MAX_KEY:
        raise field_error("Idempotency-Key", f"must be at most {MAX_KEY} characters")
    return key


@route(bp, "/payments", ["POST"], roles=OWNERS)
def create_payment() -> Any:
    """Pay bills; `Idempotency-Key` (required, at most 255 characters) makes retries safe.

    The same key and body (bill ids in any order, and method) answer the same payment, no second one: from a
    24-hour replay cache, and after it from the payment itself, whose id the key determines. The same key with
    another body is 422 idempotency_key_reused, within the 24 hours or after them: a key is never reused.
    """
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    key = _idempotency_key()
    data = body(bp, {"bill_ids": v.id_list(1, 50), "method": v.choice(METHODS)})
    caller = principal()
    config, create = deps.idempotent_create_payment()
    config.register_lambda_context(bp.lambda_context)  # Powertools then stops waiting before Lambda's timeout
    # The canonical body (bill ids sorted) is what the replay cache hashes: the same bills in another order
    # are the same request.
    request = {"caller": caller.user_id, "key": key,
               "body": {"bill_ids": sorted(data["bill_ids"]), "method": data["method"]}}
    try:
        answer = create(request=request, principal=caller)  # replayed from the cache as JSON: rebuild the payment
    except IdempotencyValidationError:
        raise PreconditionFailed("This Idempotency-Key was used with another request.",
                                 code="idempotency_key_reused") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this Idempotency-Key is still in progress.",
                       code="request_in_progress") from None
    return created(payment_json(Payment(**answer["payment"]), answer["provider_payload"]))


@route(bp, "/payments", roles=OWNERS)
def list_payments() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    start = decode_cursor(params["cursor"], "payments", caller.user_id)
    page = deps.payments().list(caller, params["limit"], start)
    return page_body([payment_json(p) for p in page.items], "payments", caller.user_id, page.last_key)


@route(bp, "/payments/{payment_id}", roles=OWNERS)
def get_payment(payment_id: str) -> Any:
    service = deps.payments()
    payment = service.get(principal(), payment_id)
    payload = service.provider_payload(payment) if payment.status == "pending" else None
    return payment_json(payment, payload)


@route(bp, "/payments/{payment_id}/receipt", roles=OWNERS)
def get_receipt(payment_id: str) -> Any:
    payment = deps.payments().paid_payment(principal(), payment_id)
    link = deps.receipts().link(payment)
    return {"receipt_no": link.receipt_no, "url": link.url, "expires_in": link.expires_in}


@route(bp, "/payments/callbacks/{provider}", ["POST"], public=True)
def provider_callback(provider: str) -> Any:
    handler = deps.payment_providers().for_callback(provider)
    if handler is None:
        raise NotFound()
    request = bp.current_request
    notice = handler.parse(dict(request.headers), request.raw_body or b"")
    outcome = deps.payments().handle_notice(notice)
    count("PaymentNotice" + outcome.title().replace("_", ""))
    logger.info("payment notice", extra={"provider": provider, "payment_id": notice.payment_id, "outcome": outcome})
    reply = handler.success
    return Response(body=reply.body, status_code=reply.status,
                    headers={"Content-Type": reply.content_type} if reply.body else {})


@route(bp, "/receipts/{receipt_no}/verify", public=True)
def verify_receipt(receipt_no: str) -> Any:
    """Check a receipt's verification code (what its QR code opens).

    200 for a genuine receipt and code; anything else (no code, an empty or malformed one, a wrong one, an
    unknown receipt) is 404 not_found. Query parameters other than `code` are ignored.
    """
    # API.md: anything but a genuine receipt and code is 404 — a missing, empty or malformed code included
    # (never 400: the check must not tell a wrong code from a malformed one). Other parameters are ignored,
    # as links from a QR code may gain some on the way.
    code = (bp.current_request.query_params or {}).get("code", "")
    if not (RECEIPT_TOKEN.fullmatch(code) and RECEIPT_TOKEN.fullmatch(receipt_no)):
        raise NotFound()
    receipt = deps.receipts().verify(receipt_no, code)
    return {"valid": True, "receipt_no": receipt.receipt_no, "amount_cents": receipt.amount_cents,
            "paid_at": receipt.paid_at, "community_name": receipt.community_name}
