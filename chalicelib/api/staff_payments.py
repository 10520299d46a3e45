"""Staff views of payments (issue 14): reading a community's payments, refunds, front-desk payments (线下收费) and
the community's refund limit."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.payments import MAX_KEY, Method, Payment, RefundEntry, _NamedHeaders, payment_json, refund_json
from chalicelib.api.routing import principal
from chalicelib.domain.ids import iso
from chalicelib.domain.payments import METHODS, OFFLINE_METHODS, OfflineEntry, PaymentQuery, payment_id_for
from chalicelib.domain.payments import Payment as PaymentRecord
from chalicelib.domain.refunds import RefundAsk, refund_id_for
from chalicelib.errors import field_error

PAYMENT_STATUSES = ("pending", "succeeded", "failed", "expired")
MAX_REFUND_CENTS = 10**9  # ¥10 million: far above any bill, it only bounds the input
OfflineMethod = Literal["cash", "pos", "bank_transfer"]


# -- requests -------------------------------------------------------------------------------------


class KeyHeaders(_NamedHeaders):
    headers: ClassVar[dict[str, str]] = {"idempotency_key": "Idempotency-Key"}

    idempotency_key = v.about(
        v.text(MAX_KEY),
        "Makes retries safe: the same key and body answer the same record, concurrent duplicates included; the "
        "same key with another body is 422 `idempotency_key_reused`. One key per refund or front-desk payment.")


class NewRefund(v.Shape):
    """How much to refund and why; `bill_ids` (of the payment) go back to unpaid and must add up to the amount."""

    amount_cents = v.about(v.integer(1, MAX_REFUND_CENTS), "Fen to refund (at most what is left to refund)")
    reason = v.text(200)
    bill_ids = v.about(v.id_list(1, 50, required=False),
                       "Bills of the payment that become unpaid again; omitted: a money-only refund, bills unchanged")


class NewOfflinePayment(v.Shape):
    """A payment taken at the front desk for an owner's bills (unpaid, of one community the caller serves)."""

    bill_ids = v.id_list(1, 50)
    method = v.choice(OFFLINE_METHODS)
    reference = v.about(v.text(100), "The cash slip number, the POS voucher or the bank transfer's reference")
    paid_at = v.about(v.timestamp(required=False), "When the money was taken (default: now); not in the future")


class StaffPaymentsQuery(PageQuery):
    community_id = v.ident()
    created_from = v.about(v.date_field(required=False), "Only payments created on or after this day (UTC)")
    created_to = v.about(v.date_field(required=False), "Only payments created on or before this day (UTC)")
    method = v.choice((*METHODS, *OFFLINE_METHODS), required=False)
    status = v.choice(PAYMENT_STATUSES, required=False)


class RefundLimitBody(v.Shape):
    refund_limit_cents = v.about(v.integer(0, MAX_REFUND_CENTS),
                                 "Refunds above this amount (fen) need an admin; staff may refund up to it")


# -- answers --------------------------------------------------------------------------------------


class StaffPayment(TypedDict):
    """A payment as staff see it: whose, for which flats, its refunds, and for front-desk ones who recorded it."""

    payment_id: str
    user_id: str
    community_id: str
    unit_ids: list[str]
    status: Literal["pending", "succeeded", "failed", "expired"]
    amount_cents: int
    refunded_cents: int
    method: Method
    bill_ids: list[str]
    created_at: str
    paid_at: NotRequired[str]
    provider_txn_id: NotRequired[str]
    receipt_no: NotRequired[str]
    reference: NotRequired[str]
    recorded_by: NotRequired[str]
    refunds: NotRequired[list[RefundEntry]]


class Refund(TypedDict):
    refund_id: str
    payment_id: str
    amount_cents: int
    reason: str
    status: Literal["requested", "pending", "succeeded", "failed"]
    bill_ids: list[str]
    requested_by: str
    created_at: str
    finished_at: NotRequired[str]


class PaymentSettings(TypedDict):
    community_id: str
    refund_limit_cents: int


def staff_payment_json(payment: PaymentRecord, refunds: list[Any] | None = None) -> StaffPayment:
    owner: Payment = payment_json(payment)
    answer = StaffPayment(
        payment_id=payment.payment_id, user_id=payment.user_id, community_id=payment.community_id,
        unit_ids=list(payment.unit_ids), status=owner["status"], amount_cents=payment.amount_cents,
        refunded_cents=payment.refunded_cents, method=owner["method"], bill_ids=list(payment.bill_ids),
        created_at=payment.created_at)
    for name in ("paid_at", "provider_txn_id", "receipt_no"):
        if name in owner:
            answer[name] = owner[name]  # type: ignore[literal-required]
    if payment.reference:
        answer["reference"] = payment.reference
    if payment.recorded_by:
        answer["recorded_by"] = payment.recorded_by
    if refunds is not None:
        answer["refunds"] = [refund_json(r) for r in refunds]
    return answer


# -- views ----------------------------------------------------------------------------------------


@endpoint(query=StaffPaymentsQuery, response=page_of(StaffPayment), errors=("not_found",))
def list_staff_payments(query: StaffPaymentsQuery) -> dict[str, Any]:
    """A community's payments, newest first, optionally in a range of days and of one method and status.

    A page may hold fewer than `limit` items while `next_cursor` is set (filters apply within the range).
    """
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise field_error("created_to", "must not be before created_from")
    wanted = PaymentQuery(query.community_id, _day(query.created_from), _day(query.created_to), query.method,
                          query.status)
    list_id = f"staff-payments:{wanted.community_id}:{wanted.created_from}:{wanted.created_to}:" \
              f"{wanted.method}:{wanted.status}"
    page = deps.payments().staff_list(principal(), wanted, query.limit, start_of(query, list_id))
    return page_answer([staff_payment_json(p) for p in page.items], list_id, page.last_key)


@endpoint(response=StaffPayment, errors=("not_found",))
def get_staff_payment(payment_id: str) -> StaffPayment:
    """A payment of one of the caller's communities, with its refunds."""
    payment = deps.payments().staff_get(principal(), payment_id)
    return staff_payment_json(payment, deps.refunds().for_payment(payment_id))


@endpoint(body=NewRefund, headers=KeyHeaders, response=Refund, status=201,
          errors=("not_found", "not_paid", "refund_limit_exceeded", "refund_exceeds_payment", "bill_not_refundable",
                  "refund_in_progress", "idempotency_key_reused"))
def create_refund(payment_id: str, body: NewRefund, headers: KeyHeaders) -> Refund:
    """Refund (part of) a paid payment; the provider is asked at once (front-desk payments: recorded only).

    `status` is `succeeded` when the provider refunded at once, `pending` while its notice or the reconciliation
    has yet to tell (`requested`: the provider did not answer, it is asked again). Bills named go back to unpaid
    once it succeeds. Above the community's refund limit only an admin may (403 `refund_limit_exceeded`); never
    more than was paid in total (409 `refund_exceeds_payment`). The owner is texted and sees it in the payment
    and in `/me/history`.
    """
    refund_id = refund_id_for(deps.payment_id_key(), payment_id, headers.idempotency_key)
    ask = RefundAsk(body.amount_cents, body.reason, tuple(body.bill_ids or ()))
    refund = deps.refunds().request(principal(), payment_id, refund_id, ask)
    return Refund(refund_id=refund.refund_id, payment_id=refund.payment_id, amount_cents=refund.amount_cents,
                  reason=refund.reason, status=refund.status, bill_ids=list(refund.bill_ids),  # type: ignore[typeddict-item]
                  requested_by=refund.requested_by, created_at=refund.created_at,
                  **({"finished_at": refund.finished_at} if refund.finished_at else {}))


@endpoint(body=NewOfflinePayment, headers=KeyHeaders, response=StaffPayment, status=201,
          errors=("not_found", "conflict", "bill_in_payment", "bill_already_paid", "no_common_owner",
                  "idempotency_key_reused"))
def record_offline_payment(body: NewOfflinePayment, headers: KeyHeaders) -> StaffPayment:
    """Record a payment taken at the front desk (线下收费): it succeeds at once for the bills' owner, who gets the
    same e-receipt as for an online payment. Audited under the caller (who, when, reference); undone only by a
    refund."""
    caller = principal()
    if body.paid_at is not None and body.paid_at > deps.utc_clock()():
        raise field_error("paid_at", "must not be in the future")
    payment_id = payment_id_for(deps.payment_id_key(), caller.user_id, "offline\n" + headers.idempotency_key)
    entry = OfflineEntry(tuple(body.bill_ids), body.method, body.reference,
                         iso(body.paid_at) if body.paid_at is not None else None)
    return staff_payment_json(deps.payments().record_offline(caller, payment_id, entry), [])


@endpoint(body=RefundLimitBody, response=PaymentSettings, errors=("not_found",))
def put_payment_settings(community_id: str, body: RefundLimitBody) -> PaymentSettings:
    """Set the community's refund limit: refunds above it need an admin (default ¥500)."""
    limit = deps.refunds().set_limit(principal(), community_id, body.refund_limit_cents)
    return PaymentSettings(community_id=community_id, refund_limit_cents=limit)


@endpoint(response=PaymentSettings, errors=("not_found",))
def get_payment_settings(community_id: str) -> PaymentSettings:
    """The community's refund limit (the default when never set)."""
    limit = deps.refunds().staff_limit(principal(), community_id)
    return PaymentSettings(community_id=community_id, refund_limit_cents=limit)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
