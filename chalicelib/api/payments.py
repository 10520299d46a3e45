"""Payments, provider callbacks and e-receipts (API.md §6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

from chalice import Response

from chalicelib import deps
from chalicelib.adapters.payments.registry import PROVIDER_NAMES
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of, request
from chalicelib.api.middleware import source_ip
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain.ids import iso
from chalicelib.domain.payments import CHANNELS, METHODS, RefundNotice
from chalicelib.domain.payments import Payment as PaymentRecord
from chalicelib.domain.refunds import Refund
from chalicelib.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from chalicelib.observability import count, logger

MAX_KEY = 255
RECEIPT_TOKEN = re.compile(r"[A-Za-z0-9]{1,64}")  # receipt numbers and verification codes are ASCII

Method = Literal["alipay", "wechat", "card", "sandbox", "cash", "pos", "bank_transfer"]
PaymentStatus = Literal["pending", "succeeded", "failed", "expired"]
RefundStatus = Literal["requested", "pending", "succeeded", "failed"]


# -- request shapes -------------------------------------------------------------------------------


class NewPayment(v.Shape):
    """The bills to pay (the caller's, unpaid, of one community) and how."""

    bill_ids = v.id_list(1, 50)
    method = v.choice(METHODS)
    channel = v.about(
        v.choice(CHANNELS, required=False),
        "Where the app opens the provider: `h5` (a phone browser: Alipay WAP pay, WeChat H5 pay), `app` (a native "
        "app: Alipay's signed order string), `jsapi` (inside WeChat's browser; needs `openid`). Omitted: the "
        "provider's default for a phone browser.")
    openid = v.about(v.text(128, required=False),
                     "`wechat` with `jsapi`: the payer's openid for the merchant's app id.")


class _NamedHeaders(v.Shape):
    """A header shape whose problems name the headers as sent (`Idempotency-Key`), not the attribute names."""

    @classmethod
    def parse_headers(cls, headers: Any) -> Any:
        try:
            return super().parse_headers(headers)
        except ValidationFailed as error:
            fields = (error.details or {}).get("fields", {})
            raise ValidationFailed(error.message, details={
                "fields": {cls.headers.get(name, name): problem for name, problem in fields.items()}}) from None


class PaymentHeaders(_NamedHeaders):
    headers: ClassVar[dict[str, str]] = {"idempotency_key": "Idempotency-Key"}

    idempotency_key = v.about(
        v.text(MAX_KEY),
        "Makes retries safe: the same key and body (bill ids in any order, and method) answer the same payment; "
        "the same key with another body is 422 `idempotency_key_reused`, however long after. One key per payment.")


def _as_sent(value: Any) -> str:
    if not isinstance(value, str):
        raise v.FieldProblem("must be text")
    return value


def _signature_header(description: str) -> v.Field:
    # Taken as sent and checked by the provider's verification only: a malformed signature is a bad signature
    # (401 `invalid_signature`, API.md), never a 400 that would tell the sender which part was wrong.
    return v.Field(_as_sent, required=False, schema={"type": "string"}, description=description)


class CallbackHeaders(_NamedHeaders):
    """The signature headers the providers send (Alipay signs inside its form body and sends none)."""

    headers: ClassVar[dict[str, str]] = {
        "sandbox_signature": "X-Sandbox-Signature",
        "wechatpay_timestamp": "Wechatpay-Timestamp",
        "wechatpay_nonce": "Wechatpay-Nonce",
        "wechatpay_signature": "Wechatpay-Signature",
        "wechatpay_serial": "Wechatpay-Serial",
    }

    sandbox_signature = _signature_header("`sandbox`: hex HMAC-SHA256 of the raw body with SANDBOX_PAYMENT_SECRET")
    wechatpay_timestamp = _signature_header("`wechat`: Unix seconds of the notice (at most 5 minutes off)")
    wechatpay_nonce = _signature_header("`wechat`: the signed nonce")
    wechatpay_signature = _signature_header(
        "`wechat`: base64 RSA-SHA256 signature of `timestamp\\nnonce\\nbody\\n` by the platform certificate")
    wechatpay_serial = _signature_header("`wechat`: serial of the platform certificate that signed the notice")


class _Ignored(v.Shape):
    """A query that is not read: links and notify URLs may gain parameters on the way, none changes anything."""

    @classmethod
    def parse_query(cls, params: dict[str, str] | None) -> Any:
        return super().parse_query({})


class ReceiptCheckQuery(v.Shape):
    code = v.about(
        v.text(64, strip=False, pattern=RECEIPT_TOKEN, pattern_hint="must be a verification code"),
        "The verification code printed on the receipt. A missing, malformed or wrong code is 404 `not_found`, "
        "exactly like an unknown receipt (never 400). Other query parameters are ignored.")

    @classmethod
    def parse_query(cls, params: dict[str, str] | None) -> Any:
        # API.md: anything but a genuine receipt and code is 404, a missing, empty or malformed code included —
        # the check must not tell a wrong code from a malformed one. Other parameters are ignored, as links from
        # a QR code may gain some on the way.
        known = {key: value for key, value in (params or {}).items() if key in cls.fields}
        try:
            return super().parse_query(known)
        except ValidationFailed:
            unusable = cls.__new__(cls)
            unusable.__dict__.update(code=None, sent=frozenset())
            return unusable


# -- answers --------------------------------------------------------------------------------------


class RefundEntry(TypedDict):
    """A refund of a payment: `requested` and `pending` are on their way, `succeeded` money is back."""

    refund_id: str
    amount_cents: int
    reason: str
    status: RefundStatus
    bill_ids: list[str]  # bills back to unpaid by this refund ([] = money only)
    created_at: str
    finished_at: NotRequired[str]


class Payment(TypedDict):
    """A payment of the caller's. `provider_payload` comes with a pending payment (on create and when read);
    `refunds` with one payment read by id (`GET /payments/{payment_id}`). Front-desk payments (`cash`, `pos`,
    `bank_transfer`) are recorded by staff."""

    payment_id: str
    status: PaymentStatus
    amount_cents: int
    method: Method
    bill_ids: list[str]
    created_at: str
    expires_at: str
    paid_at: NotRequired[str]
    provider_txn_id: NotRequired[str]
    receipt_no: NotRequired[str]
    refund_status: NotRequired[Literal["pending"]]
    refunded_cents: int  # refunds that succeeded
    refunds: NotRequired[list[RefundEntry]]
    # What the app needs to open the provider: for `sandbox` `{"pay_url"}`; Alipay's and WeChat Pay's order
    # parameters for theirs.
    provider_payload: NotRequired[dict[str, Any]]


class ReceiptLink(TypedDict):
    receipt_no: str
    url: str  # a short-lived link to the PDF e-receipt
    expires_in: int  # seconds the link stays valid


class ReceiptCheck(TypedDict):
    valid: bool
    receipt_no: str
    amount_cents: int
    paid_at: str
    community_name: str


class CallbackAck(TypedDict):
    """The sandbox provider's success reply."""

    ok: bool


def refund_json(refund: Refund) -> RefundEntry:
    entry = RefundEntry(refund_id=refund.refund_id, amount_cents=refund.amount_cents, reason=refund.reason,
                        status=refund.status, bill_ids=list(refund.bill_ids),  # type: ignore[typeddict-item]
                        created_at=refund.created_at)
    if refund.finished_at:
        entry["finished_at"] = refund.finished_at
    return entry


def payment_json(payment: PaymentRecord, provider_payload: dict[str, Any] | None = None,
                 refunds: list[Refund] | None = None) -> Payment:
    answer = Payment(
        payment_id=payment.payment_id, status=payment.status, amount_cents=payment.amount_cents,  # type: ignore[typeddict-item]
        method=payment.method, bill_ids=list(payment.bill_ids), created_at=payment.created_at,  # type: ignore[typeddict-item]
        expires_at=iso(datetime.fromtimestamp(payment.expires_at, tz=UTC)), refunded_cents=payment.refunded_cents)
    if payment.paid_at:
        answer["paid_at"] = payment.paid_at
    if payment.provider_txn_id and payment.status == "succeeded":
        answer["provider_txn_id"] = payment.provider_txn_id
    if payment.receipt_no:
        answer["receipt_no"] = payment.receipt_no
    if payment.refund_case and payment.refunded_cents < payment.amount_cents:
        answer["refund_status"] = "pending"
    if refunds is not None:
        answer["refunds"] = [refund_json(r) for r in refunds]
    if provider_payload is not None:
        answer["provider_payload"] = provider_payload
    return answer


# -- views ----------------------------------------------------------------------------------------


@endpoint(body=NewPayment, headers=PaymentHeaders, response=Payment, status=201,
          errors=("not_found", "method_unavailable", "conflict", "bill_in_payment", "bill_already_paid",
                  "request_in_progress", "idempotency_key_reused"))
def create_payment(body: NewPayment, headers: PaymentHeaders) -> Payment:
    """Pay bills: a pending payment holds them for 15 minutes while the app opens the provider.

    `Idempotency-Key` (required, at most 255 characters) makes retries safe. The same key and body (bill ids in
    any order, and method) answer the same payment, no second one: from a 24-hour replay cache, and after it
    from the payment itself, whose id the key determines. The same key with another body is 422
    `idempotency_key_reused`, within the 24 hours or after them: a key is never reused. A bill that is not the
    caller's is 404; one already paid or in a pending payment is 409 (`bill_already_paid`, `bill_in_payment`),
    bills of several communities or a bill that cannot be paid 409 `conflict`.
    """
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    caller = principal()
    config, create = deps.idempotent_create_payment()
    # Powertools then stops waiting before Lambda's timeout.
    config.register_lambda_context(getattr(request(), "lambda_context", None))
    # The canonical body (bill ids sorted) is what the replay cache hashes: the same bills in another order
    # are the same request.
    canonical = {"caller": caller.user_id, "key": headers.idempotency_key, "client_ip": source_ip(request()),
                 "body": {"bill_ids": sorted(body.bill_ids), "method": body.method, "channel": body.channel or "",
                          "openid": body.openid}}
    try:
        answer = create(request=canonical, principal=caller)  # replayed from the cache as JSON: rebuild it
    except IdempotencyValidationError:
        raise PreconditionFailed("This Idempotency-Key was used with another request.",
                                 code="idempotency_key_reused") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this Idempotency-Key is still in progress.",
                       code="request_in_progress") from None
    return payment_json(PaymentRecord(**answer["payment"]), answer["provider_payload"])


@endpoint(query=PageQuery, response=page_of(Payment))
def list_payments(query: PageQuery) -> dict[str, Any]:
    """The caller's payments, newest first."""
    page = deps.payments().list(principal(), query.limit, start_of(query, "payments"))
    return page_answer([payment_json(p) for p in page.items], "payments", page.last_key)


@endpoint(response=Payment, errors=("method_unavailable",))
def get_payment(payment_id: str) -> Payment:
    """One of the caller's payments with its refunds; a pending one comes with its `provider_payload` again."""
    service = deps.payments()
    payment = service.get(principal(), payment_id)
    payload = service.provider_payload(payment) if payment.status == "pending" else None
    return payment_json(payment, payload, deps.refunds().for_payment(payment.payment_id))


@endpoint(response=ReceiptLink, errors=("not_paid",))
def get_receipt(payment_id: str) -> ReceiptLink:
    """A short-lived link to the PDF e-receipt of a succeeded payment (409 `not_paid` before success)."""
    payment = deps.payments().paid_payment(principal(), payment_id)
    link = deps.receipts().link(payment)
    return ReceiptLink(receipt_no=link.receipt_no, url=link.url, expires_in=link.expires_in)


@endpoint(path={"provider": v.choice(PROVIDER_NAMES)}, headers=CallbackHeaders, query=_Ignored, raw_body=True,
          response=CallbackAck, responses={204: None}, errors=("invalid_signature", "callback_rejected"))
def provider_callback(provider: str, headers: CallbackHeaders, query: _Ignored) -> Response:
    """A payment provider's notice of a payment's or a refund's outcome (server to server, signed).

    The body is the provider's own (read raw): nothing changes unless its signature verifies and the amount,
    merchant and payment id match our record. Duplicate and concurrent deliveries change state once and all get
    the provider's success reply: `sandbox` 200 `{"ok": true}`; `alipay` 200 `success` (text/plain); `wechat`
    204. A bad signature is 401 `invalid_signature`, a notice that does not match 400 `callback_rejected`, a
    provider this stage does not serve 404; the provider then retries.
    """
    handler = deps.payment_providers().for_callback(provider)
    if handler is None:
        raise NotFound()
    event = request()
    # The provider verifies the headers exactly as received (`headers` only documents them).
    notice = handler.parse(dict(event.headers), event.raw_body or b"")
    if isinstance(notice, RefundNotice):
        outcome = deps.refunds().handle_notice(notice)
        count("RefundNotice" + outcome.title().replace("_", ""))
        logger.info("refund notice", extra={"provider": provider, "refund_id": notice.refund_id, "outcome": outcome})
    else:
        outcome = deps.payments().handle_notice(notice)
        count("PaymentNotice" + outcome.title().replace("_", ""))
        logger.info("payment notice", extra={"provider": provider, "payment_id": notice.payment_id,
                                             "outcome": outcome})
    reply = handler.success
    return Response(body=reply.body, status_code=reply.status,
                    headers={"Content-Type": reply.content_type} if reply.body else {})


@endpoint(path={"receipt_no": v.text(64, strip=False, pattern=RECEIPT_TOKEN)}, query=ReceiptCheckQuery,
          response=ReceiptCheck)
def verify_receipt(receipt_no: str, query: ReceiptCheckQuery) -> ReceiptCheck:
    """Check a receipt's verification code (what its QR code opens); no personal data.

    200 for a genuine receipt and code; anything else (no code, an empty or malformed one, a wrong one, an
    unknown receipt) is 404 `not_found`. Query parameters other than `code` are ignored.
    """
    if query.code is None:
        raise NotFound()
    receipt = deps.receipts().verify(receipt_no, query.code)
    return ReceiptCheck(valid=True, receipt_no=receipt.receipt_no, amount_cents=receipt.amount_cents,
                        paid_at=receipt.paid_at, community_name=receipt.community_name)
