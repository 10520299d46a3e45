"""Billing math: half-up rounding per item, totals always the sum of the items (property-based)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.billing import (
    FeeSchedule,
    MeterReading,
    PropertyItem,
    ReadingWentDown,
    UnitToBill,
    bills_for_unit,
    check_reading,
    line_amount,
    run_bill_id,
    to_fen,
)

areas = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
rates = st.integers(min_value=0, max_value=10_000)


def test_to_fen_rounds_half_up():
    assert to_fen(Decimal("7164.5")) == 7165 and to_fen(Decimal("7164.49")) == 7164 and to_fen(Decimal("0.5")) == 1


@given(areas, st.lists(rates, min_size=1, max_size=8))
def test_property_bill_total_is_the_sum_of_half_up_items(area, item_rates):
    schedule = FeeSchedule("c", tuple(PropertyItem(f"i{n}", "费", r) for n, r in enumerate(item_rates)), 450, 62, 15)
    unit = UnitToBill("u", "c", "1号楼 101", area)
    bills = bills_for_unit(unit, schedule, "2026-10", {}, "2026-11-15", "t")
    expected = [int((area * r + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR")) for r in item_rates]
    if sum(expected) == 0:
        assert bills == []
        return
    (bill,) = bills
    assert [i.amount_cents for i in bill.items] == expected
    assert bill.total_cents == sum(i.amount_cents for i in bill.items)


@given(st.decimals(min_value=0, max_value=10**6, places=2), st.decimals(min_value=0, max_value=10**4, places=2))
def test_meter_bill_charges_usage_times_price(previous, usage):
    schedule = FeeSchedule("c", (), 450, 62, 15)
    reading = MeterReading("u", "c", "water", "2026-10", previous + usage, previous)
    bills = bills_for_unit(UnitToBill("u", "c", "A 1", Decimal(1)), schedule, "2026-10", {"water": reading}, "d", "t")
    assert sum(b.total_cents for b in bills) == line_amount(usage, 450)


def test_a_reading_below_the_previous_is_refused():
    check_reading(Decimal(10), Decimal(10), None)
    for args in ((Decimal(9), Decimal(10), None), (Decimal(12), Decimal(10), Decimal(11))):
        try:
            check_reading(*args)
        except ReadingWentDown:
            continue
        raise AssertionError("accepted a reading that goes down")


def test_run_bill_ids_are_stable_and_distinct():
    assert run_bill_id("u1", "water", "2026-10") == run_bill_id("u1", "water", "2026-10")
    assert len({run_bill_id("u1", t, "2026-10") for t in ("property", "water", "electricity")}) == 3
