"""In-memory stand-ins for the refund ports and a scripted payment provider.

`FakeRefunds` enforces the conditions `adapters/dynamo/payments.py` `DynamoRefunds` puts on each write: a refund
is created once, with the payment's reserved amount moved from the value its maker read; it ends once (from
requested or pending); its ledger entry exists at most once; only bills the payment still pays reopen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from chalicelib.domain.billing import Bill
from chalicelib.domain.model import AuditEvent
from chalicelib.domain.payments import (
    MethodUnavailable,
    Notice,
    PayContext,
    Payment,
    RefundRequest,
    RefundResult,
)
from chalicelib.domain.refunds import OPEN_STATUSES, Refund, refund_shard
from tests.unit.billing_fakes import FakePayments


class FakeRefunds:
    def __init__(self, payments: FakePayments) -> None:
        self.payments = payments
        self.items: dict[str, Refund] = {}
        self.sms_claims: set[str] = set()

    def get(self, refund_id: str) -> Refund | None:
        return self.items.get(refund_id)

    def for_payment(self, payment_id: str) -> list[Refund]:
        return sorted((r for r in self.items.values() if r.payment_id == payment_id), key=lambda r: r.created_at)

    def reserve(self, refund: Refund, seen_reserved: int, event: AuditEvent) -> bool:
        payment = self.payments.items.get(refund.payment_id)
        if refund.refund_id in self.items or payment is None or payment.refund_reserved_cents != seen_reserved:
            return False
        self.items[refund.refund_id] = refund
        self.payments.items[payment.payment_id] = replace(
            payment, refund_reserved_cents=seen_reserved + refund.amount_cents)
        self.payments.events.append(event)
        return True

    def mark_pending(self, refund_id: str, provider_refund_id: str | None) -> None:
        current = self.items[refund_id]
        if current.status == "requested":
            self.items[refund_id] = replace(current, status="pending",
                                            provider_refund_id=provider_refund_id or current.provider_refund_id)

    def settle(self, refund: Refund, bills: list[Bill], provider_refund_id: str | None, at: str,
               event: AuditEvent) -> bool:
        current = self.items[refund.refund_id]
        entry = (refund.payment_id, f"refund#{refund.refund_id}")
        if current.status not in OPEN_STATUSES or entry in self.payments.ledger:
            return False
        self.items[refund.refund_id] = replace(current, status="succeeded", finished_at=at,
                                               provider_refund_id=provider_refund_id or current.provider_refund_id)
        payment = self.payments.items[refund.payment_id]
        self.payments.items[refund.payment_id] = replace(payment,
                                                         refunded_cents=payment.refunded_cents + refund.amount_cents)
        self.payments.ledger[entry] = refund.amount_cents
        for bill in bills:
            stored = self.payments.bills.items[bill.bill_id]
            if stored.status == "paid" and stored.payment_id == refund.payment_id:
                self.payments.bills.items[bill.bill_id] = replace(stored, status="unpaid", paid_at=None,
                                                                  payment_id=None)
        self.payments.events.append(event)
        return True

    def fail(self, refund: Refund, at: str, event: AuditEvent) -> bool:
        current = self.items[refund.refund_id]
        if current.status not in OPEN_STATUSES:
            return False
        self.items[refund.refund_id] = replace(current, status="failed", finished_at=at)
        payment = self.payments.items[refund.payment_id]
        self.payments.items[refund.payment_id] = replace(
            payment, refund_reserved_cents=payment.refund_reserved_cents - refund.amount_cents)
        self.payments.events.append(event)
        return True

    def open_refunds(self, shard: int) -> list[Refund]:
        return [r for r in self.items.values() if r.status in OPEN_STATUSES and refund_shard(r.refund_id) == str(shard)]

    def claim_sms(self, refund_id: str) -> bool:
        if refund_id in self.sms_claims:
            return False
        self.sms_claims.add(refund_id)
        return True

    def release_sms(self, refund_id: str) -> None:
        self.sms_claims.discard(refund_id)


class FakeLimits:
    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def limit_cents(self, community_id: str) -> int | None:
        return self.items.get(community_id)

    def set_limit(self, community_id: str, cents: int, by: str, at: str) -> None:
        self.items[community_id] = cents


@dataclass
class ScriptedProvider:
    """A provider whose answers the test sets: `answers` for query, `refund_answers` consumed in order (the
    last one repeats); every call is recorded; `unreachable` makes the next calls raise."""

    name: str = "sandbox"
    answers: dict[str, Notice] = field(default_factory=dict)
    refund_answers: list[str] = field(default_factory=lambda: ["succeeded"])
    calls: list[tuple[str, str]] = field(default_factory=list)
    unreachable: bool = False

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict:
        return {"pay_url": f"scripted://pay?payment_id={payment.payment_id}"}

    def _call(self, what: str, ref: str) -> None:
        self.calls.append((what, ref))
        if self.unreachable:
            raise ConnectionError("no answer")

    def query(self, payment: Payment) -> Notice | None:
        self._call("query", payment.payment_id)
        return self.answers.get(payment.payment_id)

    def close(self, payment: Payment) -> None:
        self._call("close", payment.payment_id)

    def _refund_result(self, request: RefundRequest) -> RefundResult:
        status = self.refund_answers.pop(0) if len(self.refund_answers) > 1 else self.refund_answers[0]
        return RefundResult(status, "prov_" + request.refund_id)

    def refund(self, request: RefundRequest) -> RefundResult:
        self._call("refund", request.refund_id)
        return self._refund_result(request)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        self._call("query_refund", request.refund_id)
        return self._refund_result(request)

    def made(self, what: str) -> list[str]:
        return [ref for kind, ref in self.calls if kind == what]


class ScriptedRegistry:
    def __init__(self, provider: ScriptedProvider, methods: tuple[str, ...] = ("sandbox", "alipay")) -> None:
        self.provider = provider
        self.methods = methods

    def for_method(self, method: str) -> ScriptedProvider:
        if method not in self.methods:
            raise MethodUnavailable()
        return self.provider
