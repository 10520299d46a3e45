"""Billing rules (API.md §6): money, fee schedules, meter readings and the bills a billing run creates.

Pure Python. Money is an integer number of fen; the one rounding rule of the project lives in `to_fen`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

BillType = Literal["property", "water", "electricity", "parking", "other"]
BillStatus = Literal["unpaid", "processing", "paid", "void"]
MeterKind = Literal["water", "electricity"]
BILL_TYPES: tuple[str, ...] = ("property", "water", "electricity", "parking", "other")
METER_KINDS: tuple[str, ...] = ("water", "electricity")
AD_HOC_BILL_TYPES: tuple[str, ...] = ("parking", "other")  # what staff may bill by hand; the rest a run bills
BILL_STATUSES: tuple[str, ...] = ("unpaid", "processing", "paid", "void")
OWNER_BILL_FILTERS: tuple[str, ...] = ("unpaid", "paid", "all")  # `GET /bills?status=`
OPEN_STATUSES = frozenset({"unpaid", "processing"})
# The sparse "unpaid" index is spread over this many partitions so a busy property never makes one hot key.
UNPAID_SHARDS = 16
# A community period's bills are spread over this many partitions of the staff list index: a billing run writes
# to all of them at once instead of one key (~1,000 writes/s per partition), and a list page reads them in turn.
LIST_SHARDS = 8
METER_UNITS = {"water": "吨", "electricity": "度"}
METER_NAMES = {"water": "水费", "electricity": "电费"}


def to_fen(amount: Decimal) -> int:
    """Round an exact amount in fen to a whole fen, half up (the project's only rounding rule)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_amount(quantity: Decimal, unit_price_cents: int) -> int:
    """The amount of one bill item: quantity × unit price, rounded half up to the fen."""
    return to_fen(quantity * unit_price_cents)


@dataclass(frozen=True)
class PropertyItem:
    code: str
    name: str
    rate_cents_per_m2: int


@dataclass(frozen=True)
class FeeSchedule:
    community_id: str
    property_items: tuple[PropertyItem, ...]
    water_cents_per_ton: int
    electricity_cents_per_kwh: int
    due_days: int
    updated_at: str = ""

    def meter_price(self, kind: str) -> int:
        return self.water_cents_per_ton if kind == "water" else self.electricity_cents_per_kwh


@dataclass(frozen=True)
class BillItem:
    code: str
    name: str
    quantity: Decimal
    unit: str
    unit_price_cents: int
    amount_cents: int


@dataclass(frozen=True)
class Bill:
    bill_id: str
    unit_id: str
    community_id: str
    unit_label: str
    type: str
    period: str
    items: tuple[BillItem, ...]
    due_date: str
    status: str = "unpaid"
    created_at: str = ""
    paid_at: str | None = None
    payment_id: str | None = None
    hold_until: int | None = None  # epoch seconds a pending payment holds the bill (processing)
    # The unit's owners when the bill was made: the bill is theirs for good, whoever owns the unit later.
    owner_ids: frozenset[str] = frozenset()

    def belongs_to(self, user_id: str, unit_ids: frozenset[str]) -> bool:
        """Whether an owner may see and pay the bill: one of its owners (bills made before owners were
        recorded on bills, until the backfill gives them theirs, fall back to the caller's units)."""
        return user_id in self.owner_ids if self.owner_ids else self.unit_id in unit_ids

    @property
    def total_cents(self) -> int:
        """Always the sum of the items (never stored separately from them)."""
        return sum(item.amount_cents for item in self.items)

    def shown_status(self, now_epoch: int) -> str:
        """The status an owner sees: a hold whose payment has expired no longer blocks the bill."""
        if self.status == "processing" and self.hold_until is not None and self.hold_until <= now_epoch:
            return "unpaid"
        return self.status

    def is_overdue(self, today: date) -> bool:
        return self.status in OPEN_STATUSES and date.fromisoformat(self.due_date) < today


@dataclass(frozen=True)
class MeterReading:
    unit_id: str
    community_id: str
    kind: str
    period: str
    reading: Decimal
    previous: Decimal | None  # the meter's reading of the latest earlier period; None for a first reading
    recorded_at: str = ""

    @property
    def usage(self) -> Decimal:
        """Consumption of the period; a meter's first reading is its baseline (no usage yet)."""
        return self.reading - self.previous if self.previous is not None else Decimal(0)


class ReadingWentDown(ValueError):
    """A cumulative meter never goes down."""


def check_reading(reading: Decimal, previous: Decimal | None, following: Decimal | None) -> None:
    """A reading must lie between the meter's earlier and later readings (meters are cumulative)."""
    if previous is not None and reading < previous:
        raise ReadingWentDown(f"lower than the previous reading {previous}")
    if following is not None and reading > following:
        raise ReadingWentDown(f"higher than the following period's reading {following}")


@dataclass(frozen=True)
class UnitToBill:
    unit_id: str
    community_id: str
    unit_label: str
    area_m2: Decimal
    owner_ids: frozenset[str] = frozenset()  # the owners the unit's bills of this run belong to


def run_bill_id(unit_id: str, bill_type: str, period: str) -> str:
    """The id of a bill a billing run creates: derived from (unit, type, period), so a re-run finds it.

    Opaque and non-sequential (a hash), and stable: the billing run's idempotency rests on it.
    """
    digest = hashlib.sha256(f"{unit_id}|{bill_type}|{period}".encode()).hexdigest()[:20]
    return f"bl_{digest}"


def due_date(today: date, schedule: FeeSchedule) -> str:
    return (today + timedelta(days=schedule.due_days)).isoformat()


def property_bill(unit: UnitToBill, schedule: FeeSchedule, period: str, due: str, created_at: str) -> Bill | None:
    """Area × each item's rate, each item rounded half up on its own; None when nothing is owed."""
    items = tuple(BillItem(i.code, i.name, unit.area_m2, "m²", i.rate_cents_per_m2,
                           line_amount(unit.area_m2, i.rate_cents_per_m2)) for i in schedule.property_items)
    bill = Bill(run_bill_id(unit.unit_id, "property", period), unit.unit_id, unit.community_id, unit.unit_label,
                "property", period, items, due, created_at=created_at, owner_ids=unit.owner_ids)
    return bill if bill.total_cents > 0 else None


def meter_bill(unit: UnitToBill, reading: MeterReading, schedule: FeeSchedule, period: str, due: str,
               created_at: str) -> Bill | None:
    """A water or electricity bill from the period's reading; None for a baseline reading or no usage."""
    usage = reading.usage
    if usage <= 0:
        return None
    price = schedule.meter_price(reading.kind)
    item = BillItem(reading.kind, METER_NAMES[reading.kind], usage, METER_UNITS[reading.kind], price,
                    line_amount(usage, price))
    bill = Bill(run_bill_id(unit.unit_id, reading.kind, period), unit.unit_id, unit.community_id, unit.unit_label,
                reading.kind, period, (item,), due, created_at=created_at, owner_ids=unit.owner_ids)
    return bill if bill.total_cents > 0 else None


def bills_for_unit(unit: UnitToBill, schedule: FeeSchedule, period: str, readings: dict[str, MeterReading],
                   due: str, created_at: str) -> list[Bill]:
    """Every bill a billing run owes one unit for the period (property, then water and electricity)."""
    bills = [property_bill(unit, schedule, period, due, created_at)]
    for kind in METER_KINDS:
        if kind in readings:
            bills.append(meter_bill(unit, readings[kind], schedule, period, due, created_at))
    return [b for b in bills if b is not None]


def unpaid_shard(bill_id: str) -> str:
    """The shard of the sparse unpaid index a bill lives in (stable for the bill's life)."""
    return str(int(hashlib.sha256(bill_id.encode()).hexdigest()[:8], 16) % UNPAID_SHARDS)


def list_shard(bill_id: str) -> str:
    """The shard of its community period's staff list a bill lives in (stable: status changes keep it)."""
    return str(int(hashlib.sha256(bill_id.encode()).hexdigest()[8:16], 16) % LIST_SHARDS)


@dataclass
class RunProgress:
    """A billing run's record (`GET /staff/billing-runs/{run_id}`)."""

    run_id: str
    community_id: str
    period: str
    status: str  # running | done | failed
    created_at: str
    bills_created: int = 0  # the run's bills that exist (not what the last try wrote): summed over its chunks
    units_done: int = 0
    units_total: int | None = None
    error: str | None = None
    finished_at: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
