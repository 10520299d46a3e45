"""In-memory stand-ins for the billing and payment ports.

They keep state and enforce the conditions the DynamoDB adapters (`adapters/dynamo/billing.py`) put on each
write: a conditional create fails on an existing key, a payment takes only unpaid bills, a run is claimed once
per community and period, a chunk's lease is taken only at the expected position, and so on. When a condition
fails they answer the way the adapter does (an exception, False or an outcome string).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from chalicelib.domain.billing import (
    OPEN_STATUSES,
    Bill,
    FeeSchedule,
    MeterReading,
    RunProgress,
    UnitToBill,
)
from chalicelib.domain.bills import OpenBill
from chalicelib.domain.model import AuditEvent
from chalicelib.domain.payments import BillsUnavailable, MethodUnavailable, Notice, Payment, Receipt, pending_shard
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict
from tests.unit.fakes import _page


class ConditionFailed(Exception):
    """A conditional write the adapter would send failed (DynamoDB's ConditionalCheckFailed, not caught)."""


class LostWrite(Exception):
    """A write that never reached the table (the Lambda timed out, the connection dropped)."""


def encode_position(position: dict[str, Any] | None) -> str | None:
    return json.dumps(position, sort_keys=True) if position else None


def decode_position(cursor: str) -> dict[str, Any] | None:
    return json.loads(cursor) if cursor else None


# -- units, fee schedules and readings ------------------------------------------------------------


class FakeBillingUnits:
    """A community's units in pages, ordered by id; a full page always hands out a next position, as
    DynamoDB does when `Limit` is reached (so the last chunk of a run may be empty)."""

    def __init__(self) -> None:
        self.items: dict[str, UnitToBill] = {}

    def add(self, unit_id: str, community_id: str, label: str, area: str,
            owner_ids: frozenset[str] = frozenset()) -> UnitToBill:
        unit = UnitToBill(unit_id, community_id, label, Decimal(area), owner_ids)
        self.items[unit_id] = unit
        return unit

    def page(self, community_id: str, limit: int, start: dict[str, Any] | None
             ) -> tuple[list[UnitToBill], dict[str, Any] | None]:
        units = sorted((u for u in self.items.values() if u.community_id == community_id), key=lambda u: u.unit_id)
        offset = int(start["offset"]) if start else 0
        chunk = units[offset:offset + limit]
        return chunk, ({"offset": offset + limit} if len(chunk) == limit else None)

    def get(self, unit_id: str) -> UnitToBill | None:
        return self.items.get(unit_id)


class FakeSchedules:
    def __init__(self) -> None:
        self.items: dict[str, FeeSchedule] = {}

    def put(self, schedule: FeeSchedule) -> None:
        self.items[schedule.community_id] = schedule

    def get(self, community_id: str) -> FeeSchedule | None:
        return self.items.get(community_id)


class FakeReadings:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], MeterReading] = {}  # (unit_id, kind, period)
        self.reads: list[int] = []  # readings returned by each for_units call (the items a run reads)

    def neighbours(self, unit_id: str, kind: str, period: str) -> tuple[MeterReading | None, MeterReading | None]:
        mine = sorted((r for (u, k, _), r in self.items.items() if u == unit_id and k == kind),
                      key=lambda r: r.period)
        before = [r for r in mine if r.period < period]
        after = [r for r in mine if r.period > period]
        return (before[-1] if before else None), (after[0] if after else None)

    def put(self, reading: MeterReading) -> None:
        self.items[(reading.unit_id, reading.kind, reading.period)] = reading

    def for_units(self, community_id: str, period: str, unit_ids: list[str]) -> dict[str, dict[str, MeterReading]]:
        found: dict[str, dict[str, MeterReading]] = {}
        for unit_id in unit_ids:
            for kind in ("water", "electricity"):
                reading = self.items.get((unit_id, kind, period))
                if reading is not None and reading.community_id == community_id:
                    found.setdefault(unit_id, {})[kind] = reading
        self.reads.append(sum(len(kinds) for kinds in found.values()))
        return found


# -- bills ----------------------------------------------------------------------------------------


def _group(status: str) -> str:
    return "open" if status in OPEN_STATUSES else status


def _period_bill(bill: Bill) -> str:
    return f"{bill.period}#{bill.bill_id}"


class FakeBills:
    def __init__(self) -> None:
        self.items: dict[str, Bill] = {}
        self.batches: list[int] = []  # sizes of write_batch calls
        self.created = 0  # bills create_missing wrote

    def create(self, bill: Bill) -> None:
        if bill.bill_id in self.items:
            raise Conflict("The bill already exists.")
        self.items[bill.bill_id] = bill

    def write_batch(self, bills: list[Bill]) -> None:
        # BatchWriteItem has no condition: it overwrites. The service must only pass bills that don't exist.
        self.batches.append(len(bills))
        for bill in bills:
            self.items[bill.bill_id] = bill

    def create_missing(self, bills: list[Bill]) -> int:
        # Conditional puts (attribute_not_exists): an existing bill, whatever its state, is left untouched.
        fresh = [b for b in bills if b.bill_id not in self.items]
        for bill in fresh:
            self.items[bill.bill_id] = bill
        self.created += len(fresh)
        return len(fresh)

    def get(self, bill_id: str) -> Bill | None:
        return self.items.get(bill_id)

    def get_many(self, bill_ids: list[str]) -> dict[str, Bill]:
        return {b: self.items[b] for b in bill_ids if b in self.items}

    def list_for_owner(self, owner_id: str, group: str | None, limit: int,
                       start: dict[str, Any] | None) -> tuple[list[Bill], dict[str, Any] | None]:
        """Newest period first, continuing after an exclusive start key shaped like DynamoDB's."""
        bills = sorted((b for b in self.items.values()
                        if owner_id in b.owner_ids and (group is None or _group(b.status) == group)),
                       key=_period_bill, reverse=True)
        if start:
            after = start["period_bill"]["S"]
            bills = [b for b in bills if _period_bill(b) < after]
        page = bills[:limit]
        if len(page) < limit:
            return page, None
        return page, {"owner_id": {"S": owner_id}, "period_bill": {"S": _period_bill(page[-1])}}

    def open_for_owner(self, owner_id: str) -> list[OpenBill]:
        return [OpenBill(b.bill_id, b.due_date, b.total_cents) for b in self.items.values()
                if owner_id in b.owner_ids and b.status in OPEN_STATUSES]

    def list_for_community(self, community_id: str, period: str, status: str | None, limit: int,
                           start: dict[str, Any] | None) -> Page[Bill]:
        bills = sorted((b for b in self.items.values() if b.community_id == community_id and b.period == period
                        and (status is None or b.status == status)),
                       key=lambda b: f"{b.status}#{b.unit_label}#{b.bill_id}")
        return _page(bills, limit, start, "offset")


# -- billing runs ---------------------------------------------------------------------------------


@dataclass
class _RunRecord:
    run: RunProgress
    attempt: int = 1
    cursor: str | None = None  # None = not started (the attribute does not exist)
    lease_until: int | None = None
    chunk_bills: dict[str, int] = field(default_factory=dict)


class FakeRuns:
    def __init__(self) -> None:
        self.records: dict[str, _RunRecord] = {}
        self.claims: dict[tuple[str, str], str] = {}  # (community, period) → run_id
        self.lose_next_advance = False  # simulate a progress write lost after the chunk's bills were written

    def claim(self, run: RunProgress) -> RunProgress:
        key = (run.community_id, run.period)
        if key in self.claims:
            return self.get(self.claims[key])  # type: ignore[return-value]
        self.claims[key] = run.run_id
        self.records[run.run_id] = _RunRecord(replace(run, status="running"))
        return run

    def restart(self, run_id: str) -> bool:
        record = self.records[run_id]
        if record.run.status == "running":
            return False
        record.run = replace(record.run, status="running", units_done=0, error=None, finished_at=None)
        record.cursor, record.lease_until, record.chunk_bills = None, None, {}
        record.attempt += 1
        return True

    def get(self, run_id: str) -> RunProgress | None:
        record = self.records.get(run_id)
        if record is None:
            return None
        return replace(record.run, bills_created=sum(record.chunk_bills.values()),
                       extra={"cursor": record.cursor or "", "attempt": str(record.attempt),
                              "lease_until": str(record.lease_until or 0)})

    def _at(self, record: _RunRecord, attempt: int, cursor: str) -> bool:
        position = record.cursor == cursor if cursor else record.cursor is None
        return record.attempt == attempt and position

    def take_lease(self, run_id: str, attempt: int, cursor: str, now: int, until: int) -> bool:
        record = self.records[run_id]
        free = record.lease_until is None or record.lease_until < now
        if record.run.status != "running" or not self._at(record, attempt, cursor) or not free:
            return False
        record.lease_until = until
        return True

    def advance(self, run_id: str, attempt: int, cursor: str, next_cursor: str | None, chunk_bills: int,
                units: int, finished_at: str | None) -> None:
        record = self.records[run_id]
        if self.lose_next_advance:
            self.lose_next_advance = False
            raise LostWrite("the progress write was lost")
        if not self._at(record, attempt, cursor):
            raise ConditionFailed("advance")
        record.chunk_bills[hashlib.sha256(cursor.encode()).hexdigest()[:16]] = chunk_bills
        record.lease_until = None
        done = record.run.units_done + units
        if next_cursor is None:
            record.cursor = "end"
            record.run = replace(record.run, status="done", finished_at=finished_at, units_done=done,
                                 units_total=done)
        else:
            record.cursor = next_cursor
            record.run = replace(record.run, units_done=done)

    def fail(self, run_id: str, attempt: int, message: str, at: str) -> None:
        record = self.records[run_id]
        if record.attempt != attempt:
            raise ConditionFailed("fail")
        record.run = replace(record.run, status="failed", error=message, finished_at=at)
        record.lease_until = None


# -- payments -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeProvider:
    name: str

    def payload(self, payment: Payment) -> dict[str, Any]:
        return {"pay_url": f"{self.name}://pay?payment_id={payment.payment_id}"}


class FakeProviders:
    def __init__(self, *methods: str) -> None:
        self.methods = set(methods or ("sandbox",))

    def for_method(self, method: str) -> FakeProvider:
        if method not in self.methods:
            raise MethodUnavailable()
        return FakeProvider(method)


class FakePayments:
    """The payment store, over the same bills as `FakeBills` (DynamoDB transactions span both tables)."""

    def __init__(self, bills: FakeBills) -> None:
        self.bills = bills
        self.items: dict[str, Payment] = {}
        self.receipts: dict[str, Receipt] = {}
        self.ledger: dict[tuple[str, str], int] = {}  # (payment_id, entry) → amount
        self.events: list[AuditEvent] = []
        self.unverified: set[str] = set()  # expired without the provider being asked (a sparse index)

    def get(self, payment_id: str) -> Payment | None:
        return self.items.get(payment_id)

    def list_for_user(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[Payment]:
        mine = sorted((p for p in self.items.values() if p.user_id == user_id),
                      key=lambda p: f"{p.created_at}#{p.payment_id}", reverse=True)
        return _page(mine, limit, start, "offset")

    def create(self, payment: Payment, bills: list[Bill], event: AuditEvent) -> None:
        current = [self.bills.items.get(b.bill_id) for b in bills]
        if payment.payment_id in self.items or any(b is None or b.status != "unpaid" for b in current):
            raise BillsUnavailable()
        self.items[payment.payment_id] = replace(payment, status="pending")
        for bill in current:
            assert bill is not None
            self.bills.items[bill.bill_id] = replace(bill, status="processing", payment_id=payment.payment_id,
                                                     hold_until=payment.expires_at)
        self.events.append(event)

    def _release(self, payment: Payment) -> None:
        for bill_id in payment.bill_ids:
            bill = self.bills.items.get(bill_id)
            if bill is not None and bill.status == "processing" and bill.payment_id == payment.payment_id:
                self.bills.items[bill_id] = replace(bill, status="unpaid", payment_id=None, hold_until=None)

    def _end(self, payment: Payment, status: str, event: AuditEvent) -> bool:
        current = self.items.get(payment.payment_id)
        if current is None or current.status != "pending":
            return False
        self.items[payment.payment_id] = replace(current, status=status)
        self._release(payment)
        self.events.append(event)
        return True

    def expire(self, payment: Payment, at: str, event: AuditEvent, unverified: bool = False) -> bool:
        ended = self._end(payment, "expired", event)
        if ended and unverified:
            self.unverified.add(payment.payment_id)
        return ended

    def expired_unverified(self, shard: int) -> list[Payment]:
        return [self.items[p] for p in sorted(self.unverified)
                if pending_shard(p) == str(shard) and self.items[p].status == "expired"]

    def mark_verified(self, payment_id: str) -> None:
        self.unverified.discard(payment_id)

    def fail(self, payment: Payment, at: str, event: AuditEvent) -> bool:
        return self._end(payment, "failed", event)

    def complete(self, payment: Payment, notice: Notice, receipt: Receipt, event: AuditEvent) -> str:
        current = self.items[payment.payment_id]
        bills = [self.bills.items[b] for b in payment.bill_ids]
        payable = current.status in ("pending", "expired", "failed") and not current.refund_case
        bills_free = all((b.status == "processing" and b.payment_id == payment.payment_id) or b.status == "unpaid"
                         for b in bills)
        fresh = (payment.payment_id, "captured") not in self.ledger and receipt.receipt_no not in self.receipts
        if not (payable and bills_free and fresh):
            if current.status == "succeeded":
                return "duplicate"
            if current.refund_case:
                return "refund_case"
            return "bills_taken"
        self.items[payment.payment_id] = replace(current, status="succeeded", provider_txn_id=notice.provider_txn_id,
                                                 paid_at=receipt.paid_at, receipt_no=receipt.receipt_no)
        for bill in bills:
            self.bills.items[bill.bill_id] = replace(bill, status="paid", paid_at=receipt.paid_at,
                                                     payment_id=payment.payment_id, hold_until=None)
        self.ledger[(payment.payment_id, "captured")] = payment.amount_cents
        self.unverified.discard(payment.payment_id)
        self.receipts[receipt.receipt_no] = receipt
        self.events.append(event)
        return "completed"

    def record_refund_case(self, payment: Payment, notice: Notice, at: str, event: AuditEvent) -> bool:
        current = self.items[payment.payment_id]
        entry = (payment.payment_id, f"refund_due#{notice.provider_txn_id}")
        if current.status == "succeeded" or entry in self.ledger:
            return False
        self.items[payment.payment_id] = replace(current, refund_case=True, provider_txn_id=notice.provider_txn_id,
                                                 status="expired")
        self.unverified.discard(payment.payment_id)
        self.ledger[entry] = payment.amount_cents
        self.events.append(event)
        self._release(payment)
        return True

    def pending_due(self, shard: int, now_epoch: int) -> list[Payment]:
        return [p for p in self.items.values() if p.status == "pending"
                and pending_shard(p.payment_id) == str(shard) and p.expires_at <= now_epoch]

    def mark_receipt_ready(self, payment_id: str) -> None:
        self.items[payment_id] = replace(self.items[payment_id], receipt_ready=True)

    def set_payload(self, payment_id: str, payload: dict) -> None:
        self.items[payment_id] = replace(self.items[payment_id], provider_payload=payload)

    def actions(self) -> list[str]:
        return [e.action for e in self.events]


class FakeReceipts:
    def __init__(self, payments: FakePayments) -> None:
        self._payments = payments

    def get(self, receipt_no: str | None) -> Receipt | None:
        return self._payments.receipts.get(receipt_no or "")


class FakeReceiptStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, pdf: bytes) -> None:
        self.objects[key] = pdf

    def exists(self, key: str) -> bool:
        return key in self.objects

    def link(self, key: str) -> str:
        return f"https://receipts.example/{key}?signed"
