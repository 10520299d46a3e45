"""Fee schedules, meter readings, billing runs and bills (API.md §6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import accepted, created
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import ADMIN, OWNERS, principal, route
from chalicelib.domain.billing import (
    AD_HOC_BILL_TYPES,
    BILL_STATUSES,
    METER_KINDS,
    OWNER_BILL_FILTERS,
    Bill,
    FeeSchedule,
    PropertyItem,
    RunProgress,
)
from chalicelib.domain.bills import NewAdHocBill
from chalicelib.domain.ids import utcnow

bp = Blueprint(__name__)
MAX_CENTS = 10**9


def _items(spec: dict[str, v.Field], min_items: int, max_items: int) -> v.Field:
    """A list of objects, each validated against `spec` (problems reported as items[i].field)."""

    def parse(value: Any) -> tuple[dict[str, Any], ...]:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise v.FieldProblem(f"must be a list of {min_items} to {max_items} items")
        parsed = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise v.FieldProblem(f"item {i} must be an object")
            try:
                parsed.append(v.validate(item, spec))
            except Exception as error:  # noqa: BLE001 - re-raised as this field's problem
                details = getattr(error, "details", None) or {}
                raise v.FieldProblem(f"item {i}: {details.get('fields', 'is not valid')}") from None
        return tuple(parsed)

    return v.Field(parse)


def bill_json(bill: Bill, now_epoch: int | None = None) -> dict[str, Any]:
    now_epoch = int(utcnow().timestamp()) if now_epoch is None else now_epoch
    body: dict[str, Any] = {
        "bill_id": bill.bill_id, "unit_id": bill.unit_id, "unit_label": bill.unit_label, "type": bill.type,
        "period": bill.period, "community_id": bill.community_id,
        "items": [{"code": i.code, "name": i.name, "quantity": i.quantity, "unit": i.unit,
                   "unit_price_cents": i.unit_price_cents, "amount_cents": i.amount_cents} for i in bill.items],
        "total_cents": bill.total_cents, "due_date": bill.due_date, "status": bill.shown_status(now_epoch),
        "created_at": bill.created_at,
    }
    if bill.paid_at:
        body["paid_at"] = bill.paid_at
    if bill.payment_id and body["status"] != "unpaid":
        body["payment_id"] = bill.payment_id
    return body


def run_json(run: RunProgress) -> dict[str, Any]:
    return {"run_id": run.run_id, "community_id": run.community_id, "period": run.period, "status": run.status,
            "bills_created": run.bills_created, "units_done": run.units_done, "units_total": run.units_total,
            "created_at": run.created_at, "finished_at": run.finished_at, "error": run.error}


@route(bp, "/staff/communities/{community_id}/fee-schedule", ["PUT"], roles=ADMIN)
def put_fee_schedule(community_id: str) -> Any:
    data = body(bp, {
        "property_items": _items({"code": v.text(32), "name": v.text(50),
                                  "rate_cents_per_m2": v.integer(0, 100_000)}, 0, 30),
        "water_cents_per_ton": v.integer(0, 100_000), "electricity_cents_per_kwh": v.integer(0, 100_000),
        "due_days": v.integer(0, 365)})
    schedule = deps.billing().set_fee_schedule(principal(), FeeSchedule(
        community_id, tuple(PropertyItem(i["code"], i["name"], i["rate_cents_per_m2"]) for i in data["property_items"]),
        data["water_cents_per_ton"], data["electricity_cents_per_kwh"], data["due_days"]))
    return {"community_id": schedule.community_id, "due_days": schedule.due_days,
            "property_items": [{"code": i.code, "name": i.name, "rate_cents_per_m2": i.rate_cents_per_m2}
                               for i in schedule.property_items],
            "water_cents_per_ton": schedule.water_cents_per_ton,
            "electricity_cents_per_kwh": schedule.electricity_cents_per_kwh, "updated_at": schedule.updated_at}


@route(bp, "/staff/meter-readings", ["POST"])
def post_reading() -> Any:
    data = body(bp, {"unit_id": v.ident(), "kind": v.choice(METER_KINDS), "period": v.period(),
                     "reading": v.decimal(2, Decimal(0), Decimal("999999999"))})
    r = deps.billing().record_reading(principal(), data["unit_id"], data["kind"], data["period"], data["reading"])
    return created({"unit_id": r.unit_id, "kind": r.kind, "period": r.period, "reading": r.reading,
                    "previous_reading": r.previous, "usage": r.usage, "recorded_at": r.recorded_at})


@route(bp, "/staff/billing-runs", ["POST"])
def post_run() -> Any:
    data = body(bp, {"community_id": v.ident(), "period": v.period()})
    return accepted(run_json(deps.billing().start_run(principal(), data["community_id"], data["period"])))


@route(bp, "/staff/billing-runs/{run_id}")
def get_run(run_id: str) -> Any:
    return run_json(deps.billing().get_run(principal(), run_id))


@route(bp, "/staff/bills", ["POST"])
def post_bill() -> Any:
    data = body(bp, {"unit_id": v.ident(), "type": v.choice(AD_HOC_BILL_TYPES), "period": v.period(),
                     "items": _items({"code": v.text(32), "name": v.text(50),
                                      "quantity": v.decimal(2, Decimal("0.01"), Decimal(100_000), required=False),
                                      "unit": v.text(10, required=False),
                                      "unit_price_cents": v.integer(0, MAX_CENTS)}, 1, 20),
                     "due_date": v.date_field()})
    items = tuple((i["code"], i["name"], i["quantity"] or Decimal(1), i["unit"] or "项", i["unit_price_cents"])
                  for i in data["items"])
    bill = deps.billing().create_bill(principal(), NewAdHocBill(data["unit_id"], data["type"], data["period"], items,
                                                                data["due_date"]))
    return created(bill_json(bill))


@route(bp, "/staff/bills")
def staff_bills() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params, {
        "community_id": v.ident(), "period": v.period(),
        "status": v.choice(BILL_STATUSES, required=False)})
    list_id = f"staff-bills:{params['community_id']}:{params['period']}:{params['status'] or ''}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.billing().list_community_bills(caller, params["community_id"], params["period"], params["status"],
                                               params["limit"], start)
    return page_body([bill_json(b) for b in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/bills", roles=OWNERS)
def owner_bills() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params,
                         {"status": v.choice(OWNER_BILL_FILTERS, required=False, default="all")})
    list_id = f"bills:{params['status']}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    bills, position = deps.billing().owner_bills(caller, params["status"], params["limit"], start)
    return page_body([bill_json(b) for b in bills], list_id, caller.user_id, position)


@route(bp, "/bills/summary", roles=OWNERS)
def owner_summary() -> Any:
    body(bp, {})
    summary = deps.billing().summary(principal())
    return {"unpaid_count": summary.unpaid_count, "unpaid_total_cents": summary.unpaid_total_cents,
            "overdue_count": summary.overdue_count}


@route(bp, "/bills/{bill_id}", roles=OWNERS)
def owner_bill(bill_id: str) -> Any:
    return bill_json(deps.billing().owner_bill(principal(), bill_id))
