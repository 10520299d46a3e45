"""Payments (API.md §6): paying bills, provider notices, expiry and receipts. Pure rules over small ports."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.billing import Bill
from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.model import AuditEvent, Principal
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict, DomainError, NotFound, PreconditionFailed, field_error
from chalicelib.observability import logger

# A payment changes its bills, their owners' copies and summaries, and 4 records of its own in one
# transaction, which DynamoDB caps at 100 items.
TRANSACTION_ITEMS = 100


def payment_items(bills: list[Bill]) -> int:
    """The items the transaction that settles a payment of `bills` writes."""
    owners = {o for b in bills for o in b.owner_ids}
    return sum(1 + len(b.owner_ids) for b in bills) + len(owners) + 4

PAYMENT_TTL_SECONDS = 15 * 60
METHODS: tuple[str, ...] = ("alipay", "wechat", "card", "sandbox")
# Taken at the front desk (线下收费) and recorded by staff: no provider, and refunded without one.
OFFLINE_METHODS: tuple[str, ...] = ("cash", "pos", "bank_transfer")
OFFLINE_PROVIDER = "offline"
# The reconciliation asks the provider about pending payments this close to their expiry (or past it).
RECONCILE_AHEAD_SECONDS = 5 * 60
CHANNELS: tuple[str, ...] = ("h5", "app", "jsapi")
PENDING_SHARDS = 8


@dataclass(frozen=True)
class Payment:
    payment_id: str
    user_id: str
    bill_ids: tuple[str, ...]
    unit_ids: tuple[str, ...]
    community_id: str
    amount_cents: int
    method: str
    provider: str
    status: str  # pending | succeeded | failed | expired
    created_at: str
    expires_at: int  # epoch seconds
    provider_txn_id: str | None = None
    paid_at: str | None = None
    receipt_no: str | None = None
    receipt_ready: bool = False
    refund_case: bool = False
    channel: str = ""  # how the app opens the provider (PayContext.channel); "" = the provider's default
    provider_payload: dict[str, Any] | None = None  # what the provider answered for this payment, kept
    refunded_cents: int = 0  # refunds that succeeded
    refund_reserved_cents: int = 0  # refunds asked for and not failed (never more than was paid)
    reference: str | None = None  # front desk: the cash slip, POS or bank-transfer reference
    recorded_by: str | None = None  # front desk: the staff member who recorded it

    @property
    def is_offline(self) -> bool:
        return self.method in OFFLINE_METHODS

    @property
    def refundable_cents(self) -> int:
        """What was taken from the owner for this payment: all of it once paid, or a late payment's amount
        (a notice for bills paid meanwhile), which is due back in full."""
        return self.amount_cents if self.status == "succeeded" or self.refund_case else 0

    def is_lapsed(self, now_epoch: int) -> bool:
        """Pending past its 15 minutes (DynamoDB has not been told yet)."""
        return self.status == "pending" and self.expires_at <= now_epoch


@dataclass(frozen=True)
class Notice:
    """A verified provider notice about one payment."""

    provider: str
    payment_id: str
    provider_txn_id: str
    amount_cents: int
    succeeded: bool


@dataclass(frozen=True)
class PayContext:
    """Where the owner pays, as far as the provider must know it.

    `channel`: `h5` (a phone browser: Alipay WAP pay, WeChat H5 pay), `app` (a native app: Alipay's signed order
    string), `jsapi` (inside WeChat's browser: needs the payer's `openid`); "" lets the provider choose.
    """

    channel: str = ""
    openid: str | None = None
    client_ip: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    """A refund asked of the provider: `refund_id` is ours and makes the request idempotent there."""

    refund_id: str
    payment_id: str
    provider_txn_id: str
    amount_cents: int
    payment_amount_cents: int
    reason: str


@dataclass(frozen=True)
class RefundResult:
    """The provider's word on a refund: `succeeded`, `failed`, or `pending` (a notice or a query will tell)."""

    status: str
    provider_refund_id: str | None = None


@dataclass(frozen=True)
class RefundNotice:
    """A verified provider notice about one refund."""

    provider: str
    refund_id: str
    payment_id: str
    provider_refund_id: str
    amount_cents: int
    status: str  # succeeded | failed


@dataclass(frozen=True)
class OfflineEntry:
    """A payment taken at the front desk, as staff record it."""

    bill_ids: tuple[str, ...]
    method: str  # one of OFFLINE_METHODS
    reference: str
    paid_at: str | None = None  # when the money was taken (default: now)


@dataclass(frozen=True)
class PaymentQuery:
    """`GET /staff/payments`: one community's payments created in [`created_from`, `created_to`] (ISO dates or
    times, inclusive), optionally of one method and one status."""

    community_id: str
    created_from: str | None = None
    created_to: str | None = None
    method: str | None = None
    status: str | None = None


def _payer_of(bills: list[Bill]) -> str:
    """The owner a front-desk payment is recorded for: one who owns every bill paid (their receipt, their list)."""
    common = set(bills[0].owner_ids)
    for bill in bills[1:]:
        common &= set(bill.owner_ids)
    if not common:
        raise Conflict("The bills have no owner in common: record them separately.", code="no_common_owner")
    return sorted(common)[0]


@dataclass(frozen=True)
class Receipt:
    receipt_no: str
    payment_id: str
    amount_cents: int
    paid_at: str
    community_name: str
    object_key: str


class MethodUnavailable(DomainError):
    code = "method_unavailable"
    message = "This payment method is not available."


class CallbackRejected(DomainError):
    code = "callback_rejected"
    message = "The notice does not match the payment."


class IdempotencyKeyReused(PreconditionFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with another request."


class BillsUnavailable(Exception):
    """The payment transaction found a bill no longer unpaid."""


class PaymentProvider(Protocol):
    """One payment provider (a file under adapters/payments/). The interface is small on purpose: a new
    acquirer implements these and nothing else.

    `success` is the reply the provider expects for a notice it must not resend.
    """

    name: str

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        """Create the order at the provider if it needs one, and return what the app needs to open it."""

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice | RefundNotice:
        """Verify a notice exactly as received; raise `InvalidSignature` or `CallbackRejected` before trusting it."""

    def query(self, payment: Payment) -> Notice | None:
        """Ask the provider how the payment stands: a `Notice` once final, None while the owner may still pay."""

    def close(self, payment: Payment) -> None:
        """Close the order at the provider so that it can no longer be paid (expiry)."""

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund (idempotent on `request.refund_id`)."""

    def query_refund(self, request: RefundRequest) -> RefundResult:
        """Ask how a refund asked earlier stands."""


class ProviderRegistry(Protocol):
    def for_method(self, method: str) -> PaymentProvider:
        """The provider serving `method` in this stage; raise `MethodUnavailable` if none."""


class BillStore(Protocol):
    def get_many(self, bill_ids: list[str]) -> dict[str, Bill]: ...


class PaymentStore(Protocol):
    def get(self, payment_id: str) -> Payment | None: ...

    def list_for_user(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[Payment]: ...

    def create(self, payment: Payment, bills: list[Bill], event: AuditEvent) -> None:
        """Store the payment and move its bills unpaid → processing atomically; `BillsUnavailable` if not all are."""

    def expire(self, payment: Payment, at: str, event: AuditEvent, unverified: bool = False) -> bool:
        """pending → expired and its bills back to unpaid, atomically; False if it was no longer pending.
        `unverified`: the provider was not asked, so `expired_unverified` lists it until `mark_verified`."""

    def expired_unverified(self, shard: int) -> list[Payment]:
        """Expired payments the provider has not been asked about since (a sparse index)."""

    def mark_verified(self, payment_id: str) -> None:
        """Take the payment off `expired_unverified`."""

    def fail(self, payment: Payment, at: str, event: AuditEvent) -> bool: ...

    def complete(self, payment: Payment, notice: Notice, receipt: Receipt, event: AuditEvent) -> str:
        """Mark paid atomically: 'completed', 'duplicate' (already succeeded) or 'bills_taken'."""

    def record_refund_case(self, payment: Payment, notice: Notice, at: str, event: AuditEvent) -> bool: ...

    def pending_due(self, shard: int, now_epoch: int) -> list[Payment]: ...

    def mark_receipt_ready(self, payment_id: str) -> None: ...

    def set_payload(self, payment_id: str, payload: dict[str, Any]) -> None:
        """Keep what the provider answered for this payment."""

    def list_for_community(self, query: PaymentQuery, limit: int, start: dict[str, Any] | None) -> Page[Payment]:
        """Newest first, by key and index only (filters on method and status apply within the range)."""


def payment_id_for(key: bytes, user_id: str, idempotency_key: str) -> str:
    """A payment's id derived from the caller and its Idempotency-Key: a retry after a partial failure
    finds the payment the first attempt created instead of creating a second one."""
    digest = hmac.new(key, f"{user_id}\n{idempotency_key}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"pay_{digest}"


def receipt_code(key: bytes, receipt_no: str) -> str:
    """The verification code printed on a receipt: a MAC of its number (nothing to store, nothing to guess)."""
    mac = hmac.new(key, receipt_no.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac)[:10].decode()


def new_receipt_no(paid_at: datetime) -> str:
    return f"R{paid_at.strftime('%Y%m%d')}{secrets.randbelow(10**10):010d}"


def pending_shard(payment_id: str) -> str:
    return str(int(hashlib.sha256(payment_id.encode()).hexdigest()[:8], 16) % PENDING_SHARDS)


class PaymentService:
    def __init__(self, bills: BillStore, payments: PaymentStore, providers: ProviderRegistry,
                 community_name: Callable[[str], str], on_paid: Callable[[Payment], None],
                 clock: Callable[[], datetime] = utcnow, on_refund_due: Callable[[Payment], None] | None = None):
        self._bills = bills
        self._payments = payments
        self._providers = providers
        self._community_name = community_name
        self._on_paid = on_paid
        self._clock = clock
        self._on_refund_due = on_refund_due  # the late-notice case: the refund service refunds it in full

    def _now(self) -> int:
        return int(self._clock().timestamp())

    # -- paying ----------------------------------------------------------------------------------

    def create(self, caller: Principal, payment_id: str, bill_ids: tuple[str, ...], method: str,
               channel: str = "", context: PayContext | None = None) -> Payment:
        """Hold the caller's unpaid bills in a new pending payment (15 minutes)."""
        provider = self._providers.for_method(method)
        check = getattr(provider, "check_context", None)  # a provider may refuse the request up front
        if check is not None and context is not None:
            check(context)
        existing = self._payments.get(payment_id)
        if existing is not None:
            if existing.user_id != caller.user_id:
                raise NotFound()
            # The payment id comes from (caller, Idempotency-Key), and the payment outlives the 24 h replay
            # cache: only the very same request may find it — another one with this key is refused, never
            # answered with this payment.
            same = (sorted(existing.bill_ids), existing.method, existing.channel) == (sorted(bill_ids), method, channel)
            if not same:
                raise IdempotencyKeyReused()
            return existing  # a retry of a request whose first attempt stored the payment
        bills = self._release_lapsed(self._owned_bills(caller, bill_ids), lambda: self._owned_bills(caller, bill_ids))
        self._check_payable(bills.values())
        now = self._clock()
        units = tuple(sorted({b.unit_id for b in bills.values()}))
        payment = Payment(payment_id, caller.user_id, bill_ids, units, next(iter(bills.values())).community_id,
                          sum(b.total_cents for b in bills.values()), method, provider.name, "pending", iso(now),
                          int(now.timestamp()) + PAYMENT_TTL_SECONDS, channel=channel)
        event = AuditEvent(caller.user_id, iso(now), "payment.created",
                           f"Payment of {payment.amount_cents} fen for {len(bill_ids)} bill(s) started", payment_id)
        try:
            self._payments.create(payment, list(bills.values()), event)
        except BillsUnavailable:
            self._check_payable(self._owned_bills(caller, bill_ids).values())
            raise Conflict("A bill is already in a pending payment.", code="bill_in_payment") from None
        return payment

    def provider_payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        """What the app needs to open the provider, asked of it once per payment and kept: a retry or a later
        read answers the same order (WeChat's `prepay_id` is not asked for twice)."""
        if payment.provider_payload is not None:
            return payment.provider_payload
        payload = self._providers.for_method(payment.method).payload(payment, context or PayContext(payment.channel))
        self._payments.set_payload(payment.payment_id, payload)
        return payload

    def _owned_bills(self, caller: Principal, bill_ids: tuple[str, ...]) -> dict[str, Bill]:
        bills = self._bills.get_many(list(bill_ids))
        missing = [b for b in bill_ids if b not in bills or not bills[b].belongs_to(caller.user_id, caller.unit_ids)]
        if missing:
            raise NotFound("A bill was not found.", details={"bill_ids": missing})
        return bills

    def _check_payable(self, bills: Any) -> None:
        now = self._now()
        for bill in bills:
            status = bill.shown_status(now)
            if status == "paid":
                raise Conflict("A bill is already paid.", code="bill_already_paid", details={"bill_id": bill.bill_id})
            if status == "processing":
                raise Conflict("A bill is already in a pending payment.", code="bill_in_payment",
                               details={"bill_id": bill.bill_id})
            if status != "unpaid":
                raise Conflict("A bill cannot be paid.", details={"bill_id": bill.bill_id})
        if len({b.community_id for b in bills}) > 1:
            raise Conflict("Bills of different communities are paid separately.")
        if payment_items(list(bills)) > TRANSACTION_ITEMS:
            raise field_error("bill_ids", "are too many for one payment: pay them in smaller groups")

    # -- reading ---------------------------------------------------------------------------------

    def get(self, caller: Principal, payment_id: str) -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None or payment.user_id != caller.user_id:
            raise NotFound()
        return self._settle(payment)

    def list(self, caller: Principal, limit: int, start: dict[str, Any] | None) -> Page[Payment]:
        page = self._payments.list_for_user(caller.user_id, limit, start)
        return Page([self._settle(p) for p in page.items], page.last_key)

    def paid_payment(self, caller: Principal, payment_id: str) -> Payment:
        payment = self.get(caller, payment_id)
        if payment.status != "succeeded" or not payment.receipt_no:
            raise Conflict("The payment has not succeeded.", code="not_paid")
        return payment

    def _settle(self, payment: Payment) -> Payment:
        """Expiry is checked when read: a lapsed pending payment is expired here and now."""
        if payment.is_lapsed(self._now()):
            self._expire(payment)
            return self._payments.get(payment.payment_id) or payment
        return payment

    def _expire(self, payment: Payment, closed: bool = False) -> bool:
        """pending → expired. Unless the provider has just closed the order (`closed`) or there is none, the
        payment stays listed for the reconciliation, which asks the provider once more: a notice that never came
        for money taken just before the expiry is found there."""
        at = iso(self._clock())
        event = AuditEvent(payment.user_id, at, "payment.expired", "Payment expired unpaid", payment.payment_id)
        return self._payments.expire(payment, at, event, unverified=not (closed or payment.is_offline))

    def sweep_expired(self) -> dict[str, int]:
        """Expire every lapsed pending payment (the 5-minute schedule); idempotent and resumable."""
        now = self._now()
        expired = 0
        for shard in range(PENDING_SHARDS):
            for payment in self._payments.pending_due(shard, now):
                expired += int(self._expire(payment))
        return {"expired": expired}

    # -- provider notices ------------------------------------------------------------------------

    def handle_notice(self, notice: Notice) -> str:
        """Apply a verified provider notice exactly once; returns what happened (for logs and tests)."""
        payment = self._payments.get(notice.payment_id)
        if payment is None or payment.provider != notice.provider:
            raise CallbackRejected("No such payment for this provider.")
        if notice.amount_cents != payment.amount_cents:
            raise CallbackRejected("The amount does not match the payment.")
        if payment.status == "succeeded":
            self._after_paid(payment)
            return "duplicate"
        at = iso(self._clock())
        if not notice.succeeded:
            if payment.status == "pending":
                self._payments.fail(payment, at, AuditEvent(payment.user_id, at, "payment.failed",
                                                            "Payment failed at the provider", payment.payment_id))
            return "failed"
        if payment.refund_case:
            self._refund_due(payment)  # a redelivery finds the refund asked for already (same refund id)
            return "refund_case"
        return self._complete(payment, notice, at)

    def _complete(self, payment: Payment, notice: Notice, paid_at: str) -> str:
        now = self._clock()
        at = iso(now)
        receipt_no = new_receipt_no(now)
        receipt = Receipt(receipt_no, payment.payment_id, payment.amount_cents, paid_at,
                          self._community_name(payment.community_id), f"receipts/{receipt_no}.pdf")
        event = AuditEvent(payment.user_id, at, "payment.succeeded",
                           f"Paid {payment.amount_cents} fen, receipt {receipt_no}", payment.payment_id)
        outcome = self._payments.complete(payment, notice, receipt, event)
        if outcome == "bills_taken":
            refund_event = AuditEvent(payment.user_id, at, "payment.refund_pending",
                                      "Late payment for bills already paid; a refund is due", payment.payment_id)
            self._payments.record_refund_case(payment, notice, at, refund_event)
            fresh = self._payments.get(payment.payment_id)
            if fresh is not None and fresh.refund_case:
                self._refund_due(fresh)
            return "refund_case"
        fresh = self._payments.get(payment.payment_id)
        if fresh is not None:
            self._after_paid(fresh)
        return "completed" if outcome == "completed" else "duplicate"

    def _refund_due(self, payment: Payment) -> None:
        if self._on_refund_due is not None:
            self._on_refund_due(payment)

    # -- reconciliation --------------------------------------------------------------------------

    def reconcile(self, budget: Any) -> dict[str, int]:
        """The 5-minute schedule: ask the provider about every pending payment near or past its expiry.

        A final answer is applied as its notice would be (`handle_notice`, so a notice racing this job changes
        state once); a lapsed payment the provider still has open is closed there first, then expired here.
        `budget` (`domain.jobs.Budget`) bounds the provider calls of one run; the next run goes on.
        """
        counts = {"queried": 0, "completed": 0, "failed": 0, "expired": 0, "verified": 0, "errors": 0}
        now = self._now()
        for shard in range(PENDING_SHARDS):
            for payment in self._payments.pending_due(shard, now + RECONCILE_AHEAD_SECONDS):
                if not budget.left():
                    return counts
                outcome = self._reconcile_one(payment, now)
                counts[outcome] = counts.get(outcome, 0) + 1
                budget.step_done()
        for shard in range(PENDING_SHARDS):
            for payment in self._payments.expired_unverified(shard):
                if not budget.left():
                    return counts
                outcome = self._verify_expired(payment)
                counts[outcome] = counts.get(outcome, 0) + 1
                budget.step_done()
        return counts

    def _reconcile_one(self, payment: Payment, now: int) -> str:
        if payment.is_offline:  # recorded at the desk, completed in the same request: no provider to ask
            return "expired" if payment.is_lapsed(now) and self._expire(payment) else "queried"
        try:
            provider = self._providers.for_method(payment.method)
        except MethodUnavailable:
            # the stage no longer serves the method: nobody can ask, the hold only lapses
            return "expired" if payment.is_lapsed(now) and self._expire(payment) else "queried"
        try:
            notice = provider.query(payment)
            if notice is not None:
                outcome = self.handle_notice(notice)
                return "completed" if outcome in ("completed", "duplicate", "refund_case") else "failed"
            if not payment.is_lapsed(now):
                return "queried"
            provider.close(payment)
        except Exception as error:  # noqa: BLE001 - any provider trouble: this payment waits for the next run
            logger.warning("payment reconciliation failed", extra={"payment_id": payment.payment_id,
                                                                   "error": type(error).__name__})
            return "errors"
        return "expired" if self._expire(payment, closed=True) else "queried"

    def _verify_expired(self, payment: Payment) -> str:
        """An expiry the provider was not asked about (a read or a new payment saw the hold lapse): ask now, apply
        a final answer as its notice would be (late money completes the payment or is refunded), close the order."""
        try:
            provider = self._providers.for_method(payment.method)
            notice = provider.query(payment)
            outcome = self.handle_notice(notice) if notice is not None else "closed"
            if outcome in ("closed", "failed"):
                provider.close(payment)
        except MethodUnavailable:
            outcome = "closed"
        except Exception as error:  # noqa: BLE001 - any provider trouble: asked again at the next run
            logger.warning("payment reconciliation failed", extra={"payment_id": payment.payment_id,
                                                                   "error": type(error).__name__})
            return "errors"
        self._payments.mark_verified(payment.payment_id)
        return "completed" if outcome in ("completed", "duplicate", "refund_case") else "verified"

    # -- the front desk --------------------------------------------------------------------------

    def record_offline(self, caller: Principal, payment_id: str, entry: OfflineEntry) -> Payment:
        """Record a payment taken at the front desk (cash, POS, bank transfer): it succeeds at once, gets
        the same receipt as an online payment and is audited under the staff member; only a refund undoes it."""
        existing = self._payments.get(payment_id)
        if existing is not None:
            return self._finish_offline(self._same_entry(caller, existing, entry), entry)
        bills = self._bills.get_many(list(entry.bill_ids))
        missing = [b for b in entry.bill_ids
                   if b not in bills or not caller.can_access_community(bills[b].community_id)]
        if missing:
            raise NotFound("A bill was not found.", details={"bill_ids": missing})
        bills = self._release_lapsed(bills, lambda: self._bills.get_many(list(entry.bill_ids)))
        self._check_payable(bills.values())
        owner_id = _payer_of(list(bills.values()))
        now = self._clock()
        payment = Payment(payment_id, owner_id, entry.bill_ids, tuple(sorted({b.unit_id for b in bills.values()})),
                          next(iter(bills.values())).community_id, sum(b.total_cents for b in bills.values()),
                          entry.method, OFFLINE_PROVIDER, "pending", iso(now),
                          int(now.timestamp()) + PAYMENT_TTL_SECONDS, reference=entry.reference,
                          recorded_by=caller.user_id)
        event = AuditEvent(caller.user_id, iso(now), "payment.recorded",
                           f"Front-desk {entry.method} payment of {payment.amount_cents} fen recorded, "
                           f"reference {entry.reference}", payment_id)
        try:
            self._payments.create(payment, list(bills.values()), event)
        except BillsUnavailable:
            raced = self._payments.get(payment_id)
            if raced is not None:  # a concurrent duplicate of this request stored it first
                return self._finish_offline(self._same_entry(caller, raced, entry), entry)
            self._check_payable(self._bills.get_many(list(entry.bill_ids)).values())
            raise Conflict("A bill is already in a pending payment.", code="bill_in_payment") from None
        return self._finish_offline(payment, entry)

    @staticmethod
    def _same_entry(caller: Principal, existing: Payment, entry: OfflineEntry) -> Payment:
        same = (sorted(existing.bill_ids), existing.method, existing.reference) == \
            (sorted(entry.bill_ids), entry.method, entry.reference)
        if not same or existing.recorded_by != caller.user_id:
            raise IdempotencyKeyReused()
        return existing

    def _finish_offline(self, payment: Payment, entry: OfflineEntry) -> Payment:
        if payment.status == "pending":
            paid_at = entry.paid_at or iso(self._clock())
            notice = Notice(OFFLINE_PROVIDER, payment.payment_id, f"{payment.method}:{entry.reference}",
                            payment.amount_cents, True)
            if self._complete(payment, notice, paid_at) == "refund_case":
                raise Conflict("A bill was paid meanwhile.", code="bill_already_paid")
        elif payment.status == "succeeded":
            self._after_paid(payment)
        return self._payments.get(payment.payment_id) or payment

    def _release_lapsed(self, bills: dict[str, Bill], reread: Callable[[], dict[str, Bill]]) -> dict[str, Bill]:
        """Expire the payments whose lapsed holds still mark these bills processing; the bills as they are then."""
        released = False
        for bill in bills.values():
            if bill.status == "processing" and bill.payment_id and bill.shown_status(self._now()) == "unpaid":
                held_by = self._payments.get(bill.payment_id)
                if held_by is not None:
                    self._expire(held_by)
                    released = True
        return reread() if released else bills

    # -- staff reads -----------------------------------------------------------------------------

    def staff_get(self, caller: Principal, payment_id: str) -> Payment:
        """A payment of one of the caller's communities (404 otherwise, as if it did not exist)."""
        payment = self._payments.get(payment_id)
        if payment is None or not caller.can_access_community(payment.community_id):
            raise NotFound()
        return self._settle(payment)

    def staff_list(self, caller: Principal, query: PaymentQuery, limit: int,
                   start: dict[str, Any] | None) -> Page[Payment]:
        """A community's payments, newest first, in a date range and optionally of one method and status."""
        if not caller.can_access_community(query.community_id):
            raise NotFound()
        return self._payments.list_for_community(query, limit, start)

    def _after_paid(self, payment: Payment) -> None:
        if payment.status == "succeeded" and not payment.receipt_ready:
            self._on_paid(payment)


def create_for_request(service: PaymentService, id_key: bytes, request: dict[str, Any],
                       principal: Principal) -> dict[str, Any]:
    """Create (or find) the payment of one `POST /payments` request (`{"caller", "key", "body"}`).

    The answer is plain JSON (`payment` as a dict of its fields, `provider_payload`) so that a replay cache can
    keep it; `deps.idempotent_create_payment()` wraps this function in one.
    """
    payment_id = payment_id_for(id_key, request["caller"], request["key"])
    body = request["body"]
    channel = body.get("channel") or ""
    context = PayContext(channel, body.get("openid"), request.get("client_ip"), body.get("return_url"))
    payment = service.create(principal, payment_id, tuple(body["bill_ids"]), body["method"], channel, context)
    payload = service.provider_payload(payment, context)
    return {"payment": asdict(payment) | {"provider_payload": payload}, "provider_payload": payload}
