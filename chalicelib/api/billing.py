"""Fee schedules, meter readings, billing runs and bills (API.md §6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, NotRequired, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain import billing as billing_domain
from chalicelib.domain.billing import (
    AD_HOC_BILL_TYPES,
    BILL_STATUSES,
    METER_KINDS,
    OWNER_BILL_FILTERS,
    BillStatus,
    BillType,
    MeterKind,
)
from chalicelib.domain.bills import NewAdHocBill
from chalicelib.domain.ids import utcnow

MAX_CENTS = 10**9
MAX_RATE_CENTS = 100_000

RunStatus = Literal["running", "done", "failed"]


# -- requests -------------------------------------------------------------------------------------


class NewPropertyItem(v.Shape):
    """One line of the property fee: billed as the unit's area × the rate."""

    code = v.text(32)
    name = v.text(50)
    rate_cents_per_m2 = v.integer(0, MAX_RATE_CENTS)


class NewFeeSchedule(v.Shape):
    """A community's fee schedule: property items by area, meter prices, and when bills fall due."""

    property_items = v.items(NewPropertyItem, 0, 30)
    water_cents_per_ton = v.integer(0, MAX_RATE_CENTS)
    electricity_cents_per_kwh = v.integer(0, MAX_RATE_CENTS)
    due_days = v.about(v.integer(0, 365), "Days from the billing run to the bills' due date")


class NewReading(v.Shape):
    """A unit's meter reading for a billing period."""

    unit_id = v.ident()
    kind = v.choice(METER_KINDS)
    period = v.period()
    reading = v.about(v.decimal(2, Decimal(0), Decimal("999999999")),
                      "The meter's cumulative value (never below the previous period's)")


class NewRun(v.Shape):
    """The community and period to bill."""

    community_id = v.ident()
    period = v.period()


class NewBillItem(v.Shape):
    """One line of an ad-hoc bill: quantity × unit price, rounded half up to the fen."""

    code = v.text(32)
    name = v.text(50)
    quantity = v.about(v.decimal(2, Decimal("0.01"), Decimal(100_000), required=False), "Default 1")
    unit = v.about(v.text(10, required=False), "Default 项")
    unit_price_cents = v.integer(0, MAX_CENTS)


class NewBill(v.Shape):
    """An ad-hoc bill for one unit (what a billing run does not bill)."""

    unit_id = v.ident()
    type = v.choice(AD_HOC_BILL_TYPES)
    period = v.period()
    items = v.items(NewBillItem, 1, 20)
    due_date = v.date_field()


class StaffBillsQuery(PageQuery):
    community_id = v.ident()
    period = v.period()
    status = v.about(v.choice(BILL_STATUSES, required=False), "Only bills of this status; default: all")


class OwnerBillsQuery(PageQuery):
    status = v.about(v.choice(OWNER_BILL_FILTERS, required=False, default="all"),
                     "`unpaid` (unpaid or processing), `paid` or `all` (default)")


# -- responses ------------------------------------------------------------------------------------


class PropertyItem(TypedDict):
    code: str
    name: str
    rate_cents_per_m2: int


class FeeSchedule(TypedDict):
    community_id: str
    due_days: int
    property_items: list[PropertyItem]
    water_cents_per_ton: int
    electricity_cents_per_kwh: int
    updated_at: str


class MeterReading(TypedDict):
    unit_id: str
    kind: MeterKind
    period: str
    reading: float
    previous_reading: float | None  # null for a meter's first reading (its baseline)
    usage: float
    recorded_at: str


class BillingRun(TypedDict):
    run_id: str
    community_id: str
    period: str
    status: RunStatus
    bills_created: int
    units_done: int
    units_total: int | None
    created_at: str
    finished_at: str | None
    error: str | None


class BillItem(TypedDict):
    code: str
    name: str
    quantity: float
    unit: str
    unit_price_cents: int
    amount_cents: int


class Bill(TypedDict):
    bill_id: str
    unit_id: str
    unit_label: str
    type: BillType
    period: str
    community_id: str
    items: list[BillItem]
    total_cents: int
    due_date: str
    status: BillStatus
    created_at: str
    paid_at: NotRequired[str]  # once paid
    payment_id: NotRequired[str]  # while a payment holds the bill, and once paid


class BillSummary(TypedDict):
    unpaid_count: int
    unpaid_total_cents: int
    overdue_count: int


def bill_json(bill: billing_domain.Bill, now_epoch: int | None = None) -> Bill:
    now_epoch = int(utcnow().timestamp()) if now_epoch is None else now_epoch
    answer = Bill(
        bill_id=bill.bill_id, unit_id=bill.unit_id, unit_label=bill.unit_label, type=bill.type,  # type: ignore[typeddict-item]
        period=bill.period, community_id=bill.community_id,
        items=[BillItem(code=i.code, name=i.name, quantity=i.quantity, unit=i.unit,  # type: ignore[typeddict-item]
                        unit_price_cents=i.unit_price_cents, amount_cents=i.amount_cents) for i in bill.items],
        total_cents=bill.total_cents, due_date=bill.due_date, status=bill.shown_status(now_epoch),  # type: ignore[typeddict-item]
        created_at=bill.created_at)
    if bill.paid_at:
        answer["paid_at"] = bill.paid_at
    if bill.payment_id and answer["status"] != "unpaid":
        answer["payment_id"] = bill.payment_id
    return answer


def run_json(run: billing_domain.RunProgress) -> BillingRun:
    return BillingRun(run_id=run.run_id, community_id=run.community_id, period=run.period,
                      status=run.status, bills_created=run.bills_created, units_done=run.units_done,  # type: ignore[typeddict-item]
                      units_total=run.units_total, created_at=run.created_at, finished_at=run.finished_at,
                      error=run.error)


def schedule_json(schedule: billing_domain.FeeSchedule) -> FeeSchedule:
    return FeeSchedule(
        community_id=schedule.community_id, due_days=schedule.due_days,
        property_items=[PropertyItem(code=i.code, name=i.name, rate_cents_per_m2=i.rate_cents_per_m2)
                        for i in schedule.property_items],
        water_cents_per_ton=schedule.water_cents_per_ton,
        electricity_cents_per_kwh=schedule.electricity_cents_per_kwh, updated_at=schedule.updated_at)


# -- staff ----------------------------------------------------------------------------------------


@endpoint(body=NewFeeSchedule, response=FeeSchedule)
def put_fee_schedule(community_id: str, body: NewFeeSchedule) -> FeeSchedule:
    """Set a community's fee schedule (what its next billing runs charge)."""
    items = tuple(billing_domain.PropertyItem(i.code, i.name, i.rate_cents_per_m2) for i in body.property_items)
    schedule = deps.billing().set_fee_schedule(principal(), billing_domain.FeeSchedule(
        community_id, items, body.water_cents_per_ton, body.electricity_cents_per_kwh, body.due_days))
    return schedule_json(schedule)


@endpoint(body=NewReading, response=MeterReading, status=201, errors=("not_found",))
def post_reading(body: NewReading) -> MeterReading:
    """Record a unit's water or electricity meter reading for a billing period."""
    r = deps.billing().record_reading(principal(), body.unit_id, body.kind, body.period, body.reading)
    return MeterReading(unit_id=r.unit_id, kind=r.kind, period=r.period, reading=r.reading,  # type: ignore[typeddict-item]
                        previous_reading=r.previous, usage=r.usage, recorded_at=r.recorded_at)  # type: ignore[typeddict-item]


@endpoint(body=NewRun, response=BillingRun, status=202, errors=("not_found", "fee_schedule_missing"))
def post_run(body: NewRun) -> BillingRun:
    """Start (or resume) the billing run of a community and period; it bills every unit in the background."""
    return run_json(deps.billing().start_run(principal(), body.community_id, body.period))


@endpoint(response=BillingRun)
def get_run(run_id: str) -> BillingRun:
    """A billing run's progress."""
    return run_json(deps.billing().get_run(principal(), run_id))


@endpoint(body=NewBill, response=Bill, status=201, errors=("not_found",))
def post_bill(body: NewBill) -> Bill:
    """Bill a unit by hand (parking and other charges)."""
    items = tuple((i.code, i.name, i.quantity or Decimal(1), i.unit or "项", i.unit_price_cents) for i in body.items)
    bill = deps.billing().create_bill(principal(), NewAdHocBill(body.unit_id, body.type, body.period, items,
                                                                body.due_date))
    return bill_json(bill)


@endpoint(query=StaffBillsQuery, response=page_of(Bill), errors=("not_found",))
def staff_bills(query: StaffBillsQuery) -> dict:
    """A community's bills of one period, optionally of one status."""
    list_id = f"staff-bills:{query.community_id}:{query.period}:{query.status or ''}"
    page = deps.billing().list_community_bills(principal(), query.community_id, query.period, query.status,
                                               query.limit, start_of(query, list_id))
    return page_answer([bill_json(b) for b in page.items], list_id, page.last_key)


# -- owners ---------------------------------------------------------------------------------------


@endpoint(query=OwnerBillsQuery, response=page_of(Bill))
def owner_bills(query: OwnerBillsQuery) -> dict:
    """The bills of the owner's units, newest period first."""
    list_id = f"owner-bills:{query.status}"  # not "bills:": cursors of the per-unit merge are refused
    bills, position = deps.billing().owner_bills(principal(), query.status, query.limit, start_of(query, list_id))
    return page_answer([bill_json(b) for b in bills], list_id, position)


@endpoint(response=BillSummary)
def owner_summary() -> BillSummary:
    """How much the owner has to pay: open bills, their total and how many are overdue."""
    summary = deps.billing().summary(principal())
    return BillSummary(unpaid_count=summary.unpaid_count, unpaid_total_cents=summary.unpaid_total_cents,
                       overdue_count=summary.overdue_count)


@endpoint(response=Bill)
def owner_bill(bill_id: str) -> Bill:
    """One of the owner's bills."""
    return bill_json(deps.billing().owner_bill(principal(), bill_id))
