"""Refunds (issue 14): staff refund a payment in full or in part, the provider is asked, and a refund notice or
the reconciliation's query completes what it left pending. Pure rules over small ports.

A refund's life: `requested` (stored, the payment's refundable amount reserved) → `pending` (the provider took
it) → `succeeded` (the ledger, the payment's `refunded_cents` and the refunded bills change in one
transaction, exactly once) or `failed` (the reservation is released). A refund still `requested` after a
provider error is asked again by the reconciliation: the provider is idempotent on our `refund_id`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.billing import Bill
from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.model import AuditEvent, Principal
from chalicelib.domain.payments import (
    CallbackRejected,
    IdempotencyKeyReused,
    Payment,
    RefundNotice,
    RefundRequest,
    RefundResult,
)
from chalicelib.errors import Conflict, Forbidden, NotFound, field_error
from chalicelib.observability import logger

# Above this amount (fen) a refund needs an admin, unless the community's settings say otherwise: ¥500.
DEFAULT_REFUND_LIMIT_CENTS = 50_000
OPEN_STATUSES: tuple[str, ...] = ("requested", "pending")
REFUND_SHARDS = 4
SYSTEM = "system"  # who asked for an automatic refund (the late-notice case)
LATE_PAYMENT_REASON = "Paid after its bills were settled by another payment"
RESERVE_ATTEMPTS = 5  # optimistic retries when refunds of one payment race


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    user_id: str  # the payment's owner (their history, their SMS)
    community_id: str
    amount_cents: int
    reason: str
    bill_ids: tuple[str, ...]  # bills back to unpaid on success; () = money only
    status: str  # requested | pending | succeeded | failed
    requested_by: str
    created_at: str
    provider: str
    provider_refund_id: str | None = None
    finished_at: str | None = None

    def request_for(self, payment: Payment) -> RefundRequest:
        return RefundRequest(self.refund_id, self.payment_id, payment.provider_txn_id or "", self.amount_cents,
                             payment.amount_cents, self.reason)


class RefundLimitExceeded(Forbidden):
    code = "refund_limit_exceeded"
    message = "Refunds above the community's limit need an admin."


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"
    message = "The refunds would exceed what was paid."


class RefundStore(Protocol):
    def get(self, refund_id: str) -> Refund | None: ...

    def for_payment(self, payment_id: str) -> list[Refund]:
        """Every refund of a payment, oldest first."""

    def reserve(self, refund: Refund, seen_reserved: int, event: AuditEvent) -> bool:
        """Store the new refund and raise the payment's reserved amount from `seen_reserved` by its amount, in
        one transaction; False (nothing written) if the refund exists or the reserved amount moved meanwhile."""

    def mark_pending(self, refund_id: str, provider_refund_id: str | None) -> None:
        """requested → pending (the provider took it); nothing if it is past that."""

    def settle(self, refund: Refund, bills: list[Bill], provider_refund_id: str | None, at: str,
               event: AuditEvent) -> bool:
        """requested|pending → succeeded with its ledger entry, the payment's refunded amount and its bills back
        to unpaid, atomically; False if it was already final."""

    def fail(self, refund: Refund, at: str, event: AuditEvent) -> bool:
        """requested|pending → failed and the payment's reservation released, atomically; False if final."""

    def open_refunds(self, shard: int) -> list[Refund]:
        """Refunds still requested or pending (a sparse index)."""


class PaymentReader(Protocol):
    def get(self, payment_id: str) -> Payment | None: ...


class BillReader(Protocol):
    def get_many(self, bill_ids: list[str]) -> dict[str, Bill]: ...


class RefundLimits(Protocol):
    def limit_cents(self, community_id: str) -> int | None:
        """The community's refund limit for staff, None when never set."""

    def set_limit(self, community_id: str, cents: int, by: str, at: str) -> None: ...


@dataclass(frozen=True)
class RefundAsk:
    """A staff member's refund request as validated at the edge."""

    amount_cents: int
    reason: str
    bill_ids: tuple[str, ...] = ()


def refund_id_for(key: bytes, payment_id: str, idempotency_key: str) -> str:
    """A refund's id from its payment and the request's Idempotency-Key: duplicate requests, concurrent or
    retried, name the same refund and so refund once (it is the provider's idempotency key too)."""
    digest = hmac.new(key, f"{payment_id}\n{idempotency_key}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"rf_{digest}"


def late_refund_id(payment_id: str) -> str:
    """The one automatic refund of a late payment (the same on every redelivery of its notice)."""
    return "rf_late_" + hashlib.sha256(payment_id.encode()).hexdigest()[:20]


def refund_shard(refund_id: str) -> str:
    return str(int(hashlib.sha256(refund_id.encode()).hexdigest()[:8], 16) % REFUND_SHARDS)


def yuan(cents: int) -> str:
    """Fen as yuan with two decimals, for what residents read."""
    return f"{cents // 100}.{cents % 100:02d}"


def refund_sms_text(refund: Refund) -> str:
    """The owner's SMS once a refund has succeeded (residents read Simplified Chinese)."""
    return (f"【物业】您的缴费（单号{refund.payment_id[-6:]}）已退款{yuan(refund.amount_cents)}元，"
            "款项将按原支付方式退回，请注意查收。如有疑问请联系物业服务中心。")


class RefundService:
    def __init__(self, payments: PaymentReader, bills: BillReader, refunds: RefundStore, limits: RefundLimits,
                 providers: Any, communities: Any, on_refunded: Callable[[Refund], None],
                 clock: Callable[[], datetime] = utcnow, default_limit_cents: int = DEFAULT_REFUND_LIMIT_CENTS):
        self._payments = payments
        self._bills = bills
        self._refunds = refunds
        self._limits = limits
        self._providers = providers
        self._communities = communities
        self._on_refunded = on_refunded
        self._clock = clock
        self._default_limit = default_limit_cents

    # -- asking ----------------------------------------------------------------------------------

    def request(self, caller: Principal, payment_id: str, refund_id: str, ask: RefundAsk) -> Refund:
        """Refund (part of) a payment of the caller's community and ask the provider; idempotent on `refund_id`.

        Above the community's limit only an admin may (403 `refund_limit_exceeded`); never more than was paid in
        total (409 `refund_exceeds_payment`); `bill_ids` go back to unpaid and must add up to the amount.
        """
        payment = self._payments.get(payment_id)
        if payment is None or not caller.can_access_community(payment.community_id):
            raise NotFound()
        existing = self._refunds.get(refund_id)
        if existing is not None:
            return self._replay(existing, ask)
        if payment.refundable_cents == 0:
            raise Conflict("Only a paid payment can be refunded.", code="not_paid")
        if ask.amount_cents > self.limit_for(payment.community_id) and not caller.is_admin:
            raise RefundLimitExceeded(details={"limit_cents": self.limit_for(payment.community_id)})
        bills = self._refunded_bills(payment, ask)
        at = iso(self._clock())
        refund = Refund(refund_id, payment.payment_id, payment.user_id, payment.community_id, ask.amount_cents,
                        ask.reason, ask.bill_ids, "requested", caller.user_id, at, payment.provider)
        event = AuditEvent(caller.user_id, at, "refund.requested",
                           f"Refund of {ask.amount_cents} fen asked for payment {payment.payment_id}", refund_id)
        stored = self._reserve(payment, refund, bills, event)
        return self._ask_provider(stored)

    def refund_late_payment(self, payment: Payment) -> Refund | None:
        """The late-notice case: a payment made after its bills were paid otherwise is refunded in full, once."""
        if not payment.refund_case:
            return None
        refund_id = late_refund_id(payment.payment_id)
        existing = self._refunds.get(refund_id)
        if existing is not None:
            return existing
        at = iso(self._clock())
        refund = Refund(refund_id, payment.payment_id, payment.user_id, payment.community_id, payment.amount_cents,
                        LATE_PAYMENT_REASON, (), "requested", SYSTEM, at, payment.provider)
        event = AuditEvent(SYSTEM, at, "refund.requested", "Automatic refund of a late payment", refund_id)
        try:
            stored = self._reserve(payment, refund, [], event)
        except RefundExceedsPayment:  # already refunded by staff meanwhile
            return None
        return self._ask_provider(stored)

    def _replay(self, existing: Refund, ask: RefundAsk) -> Refund:
        same = (existing.amount_cents, existing.reason, sorted(existing.bill_ids)) == \
            (ask.amount_cents, ask.reason, sorted(ask.bill_ids))
        if not same:
            raise IdempotencyKeyReused()
        return existing

    def _refunded_bills(self, payment: Payment, ask: RefundAsk) -> list[Bill]:
        if not ask.bill_ids:
            return []
        if payment.refund_case:
            raise field_error("bill_ids", "this payment paid no bills: refund it without bill_ids")
        unknown = [b for b in ask.bill_ids if b not in payment.bill_ids]
        if unknown:
            raise field_error("bill_ids", "must be bills of this payment")
        bills = self._bills.get_many(list(ask.bill_ids))
        taken = {b for r in self._refunds.for_payment(payment.payment_id) if r.status != "failed" for b in r.bill_ids}
        for bill_id in ask.bill_ids:
            bill = bills.get(bill_id)
            if bill is None or bill.status != "paid" or bill.payment_id != payment.payment_id or bill_id in taken:
                raise Conflict("A bill is no longer paid by this payment.", code="bill_not_refundable",
                               details={"bill_id": bill_id})
        if sum(b.total_cents for b in bills.values()) != ask.amount_cents:
            raise field_error("amount_cents", "must equal the total of the bills refunded")
        return list(bills.values())

    def _reserve(self, payment: Payment, refund: Refund, bills: list[Bill], event: AuditEvent) -> Refund:
        current: Payment | None = payment
        for _ in range(RESERVE_ATTEMPTS):
            assert current is not None
            if current.refund_reserved_cents + refund.amount_cents > current.refundable_cents:
                raise RefundExceedsPayment(details={"refundable_cents": current.refundable_cents
                                                    - current.refund_reserved_cents})
            if self._refunds.reserve(refund, current.refund_reserved_cents, event):
                return refund
            existing = self._refunds.get(refund.refund_id)
            if existing is not None:  # a concurrent duplicate stored it first
                return existing
            current = self._payments.get(payment.payment_id)
        raise Conflict("Other refunds of this payment are being made: try again.", code="refund_in_progress")

    def _ask_provider(self, refund: Refund) -> Refund:
        if refund.status not in OPEN_STATUSES:
            return refund
        payment = self._payments.get(refund.payment_id)
        if payment is None:
            return refund
        if payment.is_offline:  # cash back over the counter: recorded, nothing to ask
            self._apply(refund, RefundResult("succeeded"))
            return self._refunds.get(refund.refund_id) or refund
        try:
            provider = self._providers.for_method(payment.method)
            ask = provider.refund if refund.status == "requested" else provider.query_refund
            result = ask(refund.request_for(payment))
        except Exception as error:  # noqa: BLE001 - the outcome is unknown: the reconciliation asks again
            logger.warning("refund request failed", extra={"refund_id": refund.refund_id,
                                                           "error": type(error).__name__})
            return refund
        self._apply(refund, result)
        return self._refunds.get(refund.refund_id) or refund

    # -- outcomes --------------------------------------------------------------------------------

    def _apply(self, refund: Refund, result: RefundResult) -> str:
        at = iso(self._clock())
        if result.status == "succeeded":
            bills = list(self._bills.get_many(list(refund.bill_ids)).values()) if refund.bill_ids else []
            event = AuditEvent(refund.user_id, at, "payment.refunded",
                               f"Refunded {refund.amount_cents} fen: {refund.reason}", refund.payment_id)
            if not self._refunds.settle(refund, bills, result.provider_refund_id, at, event):
                return "duplicate"
            settled = self._refunds.get(refund.refund_id) or replace(refund, status="succeeded")
            self._on_refunded(settled)
            return "succeeded"
        if result.status == "failed":
            event = AuditEvent(refund.requested_by, at, "refund.failed",
                               f"Refund of {refund.amount_cents} fen failed at the provider", refund.refund_id)
            return "failed" if self._refunds.fail(refund, at, event) else "duplicate"
        if refund.status == "requested":
            self._refunds.mark_pending(refund.refund_id, result.provider_refund_id)
        return "pending"

    def handle_notice(self, notice: RefundNotice) -> str:
        """Apply a verified refund notice exactly once; returns what happened (for logs and tests)."""
        refund = self._refunds.get(notice.refund_id)
        if refund is None or refund.provider != notice.provider or refund.payment_id != notice.payment_id:
            raise CallbackRejected("No such refund for this provider.")
        if notice.amount_cents != refund.amount_cents:
            raise CallbackRejected("The amount does not match the refund.")
        if refund.status not in OPEN_STATUSES:
            return "duplicate"
        status = "succeeded" if notice.status == "succeeded" else "failed"
        return self._apply(refund, RefundResult(status, notice.provider_refund_id))

    def reconcile(self, budget: Any) -> dict[str, int]:
        """Ask the provider again about every refund still open (requested: ask for it again; pending: query)."""
        counts: dict[str, int] = {}
        for shard in range(REFUND_SHARDS):
            for refund in self._refunds.open_refunds(shard):
                if not budget.left():
                    return counts
                after = self._ask_provider(refund)
                counts[after.status] = counts.get(after.status, 0) + 1
                budget.step_done()
        return counts

    # -- reading and settings --------------------------------------------------------------------

    def for_payment(self, payment_id: str) -> list[Refund]:
        return self._refunds.for_payment(payment_id)

    def limit_for(self, community_id: str) -> int:
        limit = self._limits.limit_cents(community_id)
        return self._default_limit if limit is None else limit

    def staff_limit(self, caller: Principal, community_id: str) -> int:
        """The refund limit of one of the caller's communities."""
        self._community(caller, community_id)
        return self.limit_for(community_id)

    def set_limit(self, caller: Principal, community_id: str, cents: int) -> int:
        """An admin sets the amount above which a refund of the community needs an admin."""
        if not caller.is_admin:
            raise Forbidden()
        self._community(caller, community_id)
        self._limits.set_limit(community_id, cents, caller.user_id, iso(self._clock()))
        return cents

    def _community(self, caller: Principal, community_id: str) -> None:
        if not caller.can_access_community(community_id) or self._communities.get_community(community_id) is None:
            raise NotFound()


class RefundNotifier:
    """The `refund-sms` job: texts the owner once their refund has succeeded."""

    def __init__(self, refunds: RefundStore, accounts: Any, sms: Any, claim: Callable[[str], bool],
                 release: Callable[[str], None]):
        self._refunds = refunds
        self._accounts = accounts
        self._sms = sms
        self._claim = claim
        self._release = release

    def notify(self, refund_id: str) -> bool:
        """Send the SMS; False when nothing was sent (not succeeded, no owner, already sent)."""
        refund = self._refunds.get(refund_id)
        owner = self._accounts.get(refund.user_id) if refund else None
        if refund is None or refund.status != "succeeded" or owner is None or not owner.phone:
            return False
        if not self._claim(refund_id):
            return False
        try:
            self._sms.send(owner.phone, refund_sms_text(refund))
        except Exception:
            self._release(refund_id)  # let the job's retry send it
            raise
        return True
