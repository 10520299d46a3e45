"""The billing service's rules (API.md §6) with in-memory fakes: fee schedules, readings, runs, bills."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.billing import Bill, BillItem, FeeSchedule, PropertyItem
from chalicelib.domain.bills import FIRST_CHUNK_SECONDS, BillingService, NewAdHocBill
from chalicelib.domain.jobs import Budget
from chalicelib.domain.model import Community, Principal
from chalicelib.errors import NotFound, ValidationFailed
from tests.unit.billing_fakes import (
    FakeBillingUnits,
    FakeBills,
    FakeReadings,
    FakeRuns,
    FakeSchedules,
    LostWrite,
    decode_position,
    encode_position,
)
from tests.unit.fakes import FakeCommunities, UtcClock

PERIOD = "2026-11"
# 10:00 on 1 December in Shanghai, the morning the November run is started.
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)




def owner(user_id: str, *unit_ids: str) -> Principal:
    return Principal(user_id, "owner", "s", frozenset(), frozenset(unit_ids), False)


STAFF = Principal("s1", "staff", "s", frozenset({"c1"}), frozenset(), False)
FOREIGN_STAFF = Principal("s2", "staff", "s", frozenset({"c2"}), frozenset(), False)
# Area 89.55 m² at 1.50 and 0.30 yuan: 13432.5 and 2686.5 fen, each rounded half up on its own (banker's
# rounding would give 13432 and 2686, rounding the sum once would give 16119).
SCHEDULE = FeeSchedule("c1", (PropertyItem("mgmt", "物业管理费", 150), PropertyItem("lift", "电梯费", 30)),
                       water_cents_per_ton=355, electricity_cents_per_kwh=62, due_days=15)


class Setup:
    def __init__(self) -> None:
        self.clock = UtcClock(START)
        self.communities = FakeCommunities()
        self.units, self.schedules, self.readings = FakeBillingUnits(), FakeSchedules(), FakeReadings()
        self.bills, self.runs = FakeBills(), FakeRuns()
        self.queue: list[dict[str, Any]] = []
        self.service = BillingService(self.communities, self.units, self.schedules, self.readings, self.bills,
                                      self.runs, self.queue.append, encode_position, decode_position,
                                      clock=self.clock)
        self.communities.create_community(Community("c1", "阳光小区", "上海", "Asia/Shanghai", "x"))
        self.communities.create_community(Community("c2", "别的小区", "上海", "Asia/Shanghai", "x"))
        self.units.add("unit1", "c1", "1号楼 101", "89.55", frozenset({"o1"}))
        self.units.add("unit2", "c1", "1号楼 102", "89.55", frozenset({"o2"}))
        self.units.add("unit9", "c2", "9号楼 901", "120.00", frozenset({"o9"}))

    def schedule(self, schedule: FeeSchedule = SCHEDULE) -> None:
        self.service.set_fee_schedule(STAFF, schedule)

    def work(self, chunk: int = 1000) -> list[str]:
        """Deliver every queued message to the worker, as SQS would, until the queue is empty."""
        outcomes = []
        while self.queue:
            message = self.queue.pop(0)
            outcomes.append(self.service.work_run(message["run_id"], message["attempt"], message["cursor"], chunk))
        return outcomes

    def run(self, chunk: int = 1000) -> str:
        run_id = self.service.start_run(STAFF, "c1", PERIOD).run_id
        self.work(chunk)
        return run_id

    def unit_bills(self, unit_id: str) -> dict[str, int]:
        return {b.type: b.total_cents for b in self.bills.items.values() if b.unit_id == unit_id}


@pytest.fixture
def s() -> Setup:
    return Setup()


# -- fee schedule and readings --------------------------------------------------------------------


def test_run_bills_area_times_each_rate_rounded_half_up_per_item(s):
    s.schedule()
    s.run()
    bill = s.service.owner_bills(owner("o1", "unit1"), "all", 10, None)[0][0]
    assert [(i.code, i.amount_cents) for i in bill.items] == [("mgmt", 13433), ("lift", 2687)]
    assert bill.total_cents == 16120 and bill.type == "property" and bill.due_date == "2026-12-16"


def test_meter_bill_charges_usage_since_the_previous_reading(s):
    s.schedule()
    s.service.record_reading(STAFF, "unit1", "water", "2026-10", Decimal("100.0"))
    reading = s.service.record_reading(STAFF, "unit1", "water", PERIOD, Decimal("112.3"))
    assert reading.previous == Decimal("100.0") and reading.usage == Decimal("12.3")
    s.run()
    # 12.3 t × 3.55 yuan = 4366.5 fen → 4367
    assert s.unit_bills("unit1")["water"] == 4367


def test_a_first_reading_is_a_baseline_and_bills_nothing(s):
    s.schedule()
    s.service.record_reading(STAFF, "unit1", "electricity", PERIOD, Decimal("5230"))
    s.run()
    assert set(s.unit_bills("unit1")) == {"property"}


def test_a_reading_below_the_previous_is_refused_and_not_stored(s):
    s.service.record_reading(STAFF, "unit1", "water", "2026-10", Decimal("100"))
    with pytest.raises(ValidationFailed) as refused:
        s.service.record_reading(STAFF, "unit1", "water", PERIOD, Decimal("99.9"))
    assert "reading" in refused.value.details["fields"]
    assert s.readings.neighbours("unit1", "water", "2026-12")[0].reading == Decimal("100")


def test_a_late_reading_above_the_following_period_is_refused(s):
    s.service.record_reading(STAFF, "unit1", "water", PERIOD, Decimal("120"))
    with pytest.raises(ValidationFailed):
        s.service.record_reading(STAFF, "unit1", "water", "2026-10", Decimal("121"))


def test_staff_cannot_record_readings_in_another_community(s):
    with pytest.raises(NotFound):
        s.service.record_reading(FOREIGN_STAFF, "unit1", "water", PERIOD, Decimal("1"))


def test_a_fee_schedule_repeating_an_item_code_is_refused(s):
    twice = replace(SCHEDULE, property_items=(PropertyItem("mgmt", "a", 1), PropertyItem("mgmt", "b", 2)))
    with pytest.raises(ValidationFailed):
        s.schedule(twice)
    assert s.schedules.get("c1") is None


# -- billing runs ---------------------------------------------------------------------------------


def test_a_run_needs_a_fee_schedule(s):
    with pytest.raises(ValidationFailed) as refused:
        s.service.start_run(STAFF, "c1", PERIOD)
    assert refused.value.code == "fee_schedule_missing" and not s.queue


def test_staff_cannot_start_a_run_of_another_community(s):
    s.schedule()
    with pytest.raises(NotFound):
        s.service.start_run(FOREIGN_STAFF, "c1", PERIOD)


def test_a_run_bills_only_its_community_and_reports_progress(s):
    s.schedule()
    run_id = s.run()
    run = s.service.get_run(STAFF, run_id)
    assert (run.status, run.bills_created, run.units_done, run.units_total) == ("done", 2, 2, 2)
    assert s.unit_bills("unit9") == {}
    with pytest.raises(NotFound):
        s.service.get_run(FOREIGN_STAFF, run_id)


def test_a_second_start_returns_the_same_run_and_bills_once(s):
    s.schedule()
    first = s.service.start_run(STAFF, "c1", PERIOD)
    second = s.service.start_run(STAFF, "c1", PERIOD)
    assert second.run_id == first.run_id
    outcomes = s.work()
    assert outcomes.count("done") == 1
    assert len(s.bills.items) == 2
    assert s.service.get_run(STAFF, first.run_id).bills_created == 2


def test_starting_a_finished_run_again_adds_only_missing_bills_and_keeps_paid_ones(s):
    s.schedule()
    run_id = s.run()
    paid_id = next(b.bill_id for b in s.bills.items.values() if b.unit_id == "unit1")
    s.bills.items[paid_id] = replace(s.bills.items[paid_id], status="paid", payment_id="pay_1")
    s.units.add("unit3", "c1", "1号楼 103", "50.00")
    again = s.service.start_run(STAFF, "c1", PERIOD)
    s.work()
    assert again.run_id == run_id
    assert s.bills.items[paid_id].status == "paid"
    assert len(s.bills.items) == 3 and s.service.get_run(STAFF, run_id).bills_created == 3


def test_a_chunk_redone_after_a_lost_progress_write_does_not_double_bills(s):
    s.schedule()
    for n in range(3, 6):
        s.units.add(f"unit{n}", "c1", f"1号楼 10{n}", "60.00")
    run_id = s.service.start_run(STAFF, "c1", PERIOD).run_id
    message = s.queue.pop(0)
    s.runs.lose_next_advance = True
    with pytest.raises(LostWrite):
        s.service.work_run(message["run_id"], message["attempt"], message["cursor"], 2)
    # SQS redelivers: while the lease holds the chunk is not done twice at once; after it, it is redone.
    assert s.service.work_run(message["run_id"], message["attempt"], message["cursor"], 2) == "busy"
    s.clock.advance(301)
    s.queue.append(message)
    s.work(chunk=2)
    run = s.service.get_run(STAFF, run_id)
    assert run.status == "done" and run.bills_created == 5 and len(s.bills.items) == 5
    assert sorted(b.unit_id for b in s.bills.items.values()) == ["unit1", "unit2", "unit3", "unit4", "unit5"]


def test_a_duplicate_message_of_a_chunk_already_done_is_stale_not_retried(s):
    s.schedule()
    for n in range(3, 6):
        s.units.add(f"unit{n}", "c1", f"1号楼 10{n}", "60.00")
    s.service.start_run(STAFF, "c1", PERIOD)
    first = s.queue.pop(0)
    assert s.service.work_run(first["run_id"], first["attempt"], first["cursor"], 2) == "continued"
    # SQS delivers the first message again once the run has moved on: nothing to redo, nothing to redeliver
    assert s.service.work_run(first["run_id"], first["attempt"], first["cursor"], 2) == "stale"
    assert s.work(chunk=2) == ["continued", "done"] and len(s.bills.items) == 5


def test_a_stale_message_of_an_earlier_attempt_does_nothing(s):
    s.schedule()
    s.run()
    s.service.start_run(STAFF, "c1", PERIOD)  # attempt 2
    assert s.service.work_run(s.queue[0]["run_id"], 1, "", 1000) == "stale"


def test_a_failed_chunk_marks_the_run_failed_and_a_new_start_resumes_it(s):
    s.schedule()
    run_id = s.service.start_run(STAFF, "c1", PERIOD).run_id
    del s.schedules.items["c1"]
    with pytest.raises(ValueError):
        s.work()
    assert s.service.get_run(STAFF, run_id).status == "failed"
    s.schedule()
    assert s.service.start_run(STAFF, "c1", PERIOD).status == "running"
    s.work()
    assert s.service.get_run(STAFF, run_id).status == "done" and len(s.bills.items) == 2


class InvocationClock:
    """Time as the worker sees it, moved by the work itself: billing one unit costs `per_unit` seconds (the
    fake bills advance it), so an invocation's budget runs out after a known amount of work, not wall time."""

    def __init__(self, per_unit: float) -> None:
        self.now, self.per_unit = 0.0, per_unit

    def budget(self, seconds: float) -> Budget:
        return Budget(seconds, clock=lambda: self.now, expect=FIRST_CHUNK_SECONDS)


def test_a_community_bigger_than_one_invocation_is_billed_across_invocations_each_unit_once(s):
    s.schedule()
    for n in range(3, 26):
        s.units.add(f"unit{n:02d}", "c1", f"2号楼 {n:02d}", "60.00")
    clock = InvocationClock(per_unit=0.75)  # a 4-unit chunk takes 3 s
    create_missing = s.bills.create_missing

    def timed_create_missing(bills):
        clock.now += clock.per_unit * len({b.unit_id for b in bills})
        return create_missing(bills)

    s.bills.create_missing = timed_create_missing
    run_id = s.service.start_run(STAFF, "c1", PERIOD).run_id
    invocations, outcomes = [], []
    while s.queue:
        message = s.queue.pop(0)
        started = clock.now
        outcomes.append(s.service.work_run(message["run_id"], message["attempt"], message["cursor"], 4,
                                           budget=clock.budget(10)))
        invocations.append(clock.now - started)
    # 25 units in 7 chunks of 4: a chunk starts only while the slowest one so far would still end within the
    # 10 s, so each invocation works three chunks (9 s) and hands on the cursor
    assert outcomes == ["continued", "continued", "done"]
    assert max(invocations) <= 10
    run = s.service.get_run(STAFF, run_id)
    assert (run.status, run.units_done, run.units_total, run.bills_created) == ("done", 25, 25, 25)
    billed = sorted(b.unit_id for b in s.bills.items.values())
    assert billed == sorted(s.units.items.keys() - {"unit9"}) and s.bills.created == 25


def test_an_invocation_out_of_time_hands_the_run_on_untouched(s):
    s.schedule()
    run_id = s.service.start_run(STAFF, "c1", PERIOD).run_id
    message = s.queue.pop(0)
    spent = Budget(1.0, expect=FIRST_CHUNK_SECONDS)  # 1 s left, less than a chunk is assumed to take
    assert s.service.work_run(run_id, message["attempt"], "", budget=spent) == "deferred"
    assert s.queue == [message] and s.bills.items == {}
    assert s.work() == ["done"] and len(s.bills.items) == 2


def test_each_chunk_reads_only_its_own_units_readings(s):
    s.schedule()
    for n in range(3, 11):
        s.units.add(f"unit{n:02d}", "c1", f"2号楼 {n:02d}", "60.00")
    for unit_id in sorted(s.units.items.keys() - {"unit9"}):
        for kind in ("water", "electricity"):
            s.service.record_reading(STAFF, unit_id, kind, "2026-10", Decimal(100))
            s.service.record_reading(STAFF, unit_id, kind, PERIOD, Decimal(110))
    s.run(chunk=2)
    # 10 units of c1 in 5 chunks: 2 units × 2 meters each, the last chunk as the first, never the period's 20
    assert s.readings.reads == [4, 4, 4, 4, 4, 0]
    assert len(s.bills.items) == 30


def test_a_rerun_never_overwrites_a_bill_changed_meanwhile(s):
    s.schedule()
    run_id = s.run()
    bill = next(b for b in s.bills.items.values() if b.unit_id == "unit2")
    s.bills.items[bill.bill_id] = replace(bill, status="processing", payment_id="pay_9", hold_until=1)
    s.service.start_run(STAFF, "c1", PERIOD)
    s.work()
    kept = s.bills.items[bill.bill_id]
    assert (kept.status, kept.payment_id) == ("processing", "pay_9")
    assert s.service.get_run(STAFF, run_id).bills_created == 2 and s.bills.created == 2


# -- ad-hoc bills ---------------------------------------------------------------------------------


def test_an_ad_hoc_bill_totals_its_items_each_rounded_half_up(s):
    items = (("slot", "车位费", Decimal("1.5"), "月", 333), ("card", "门禁卡", Decimal(1), "张", 1000))
    bill = s.service.create_bill(STAFF, NewAdHocBill("unit1", "parking", PERIOD, items, date(2026, 12, 31)))
    assert [i.amount_cents for i in bill.items] == [500, 1000] and bill.total_cents == 1500
    assert s.service.owner_bill(owner("o1", "unit1"), bill.bill_id).total_cents == 1500


def test_an_ad_hoc_bill_of_nothing_is_refused_and_not_stored(s):
    with pytest.raises(ValidationFailed):
        s.service.create_bill(STAFF, NewAdHocBill("unit1", "other", PERIOD, (("x", "零", Decimal(0), "次", 100),),
                                                  date(2026, 12, 31)))
    assert s.bills.items == {}


def test_staff_cannot_bill_a_unit_of_another_community(s):
    with pytest.raises(NotFound):
        s.service.create_bill(FOREIGN_STAFF, NewAdHocBill("unit1", "other", PERIOD,
                                                          (("x", "其他", Decimal(1), "次", 100),), date(2026, 12, 31)))


# -- owners ---------------------------------------------------------------------------------------


def test_an_owner_sees_only_the_bills_of_their_units(s):
    s.schedule()
    s.run()
    other = next(b.bill_id for b in s.bills.items.values() if b.unit_id == "unit2")
    mine, _ = s.service.owner_bills(owner("o1", "unit1"), "all", 10, None)
    assert {b.unit_id for b in mine} == {"unit1"}
    with pytest.raises(NotFound):
        s.service.owner_bill(owner("o1", "unit1"), other)


def test_owner_bills_of_several_units_page_newest_first_without_repeats(s):
    s.units.add("unit2", "c1", "1号楼 102", "89.55", frozenset({"o1", "o2"}))  # o1 co-owns unit2
    s.schedule()
    s.service.start_run(STAFF, "c1", "2026-10")
    s.work()
    s.run()
    caller = owner("o1", "unit1", "unit2")
    seen, start = [], None
    for _ in range(10):
        page, start = s.service.owner_bills(caller, "all", 1, start)
        seen += page
        if start is None:
            break
    assert [b.period for b in seen] == ["2026-11", "2026-11", "2026-10", "2026-10"]
    assert len({b.bill_id for b in seen}) == 4


def test_owner_bills_filter_unpaid_includes_processing_and_leaves_out_paid(s):
    s.schedule()
    s.service.start_run(STAFF, "c1", "2026-10")
    s.work()
    s.run()
    by_period = {b.period: b for b in s.bills.items.values() if b.unit_id == "unit1"}
    paid, held = by_period["2026-10"], by_period["2026-11"]
    s.bills.items[paid.bill_id] = replace(paid, status="paid")
    s.bills.items[held.bill_id] = replace(held, status="processing", payment_id="pay_1")
    unpaid, _ = s.service.owner_bills(owner("o1", "unit1"), "unpaid", 10, None)
    done, _ = s.service.owner_bills(owner("o1", "unit1"), "paid", 10, None)
    assert [b.bill_id for b in unpaid] == [held.bill_id] and [b.bill_id for b in done] == [paid.bill_id]


def test_summary_counts_open_bills_and_overdue_ones_in_the_community_timezone(s):
    item = BillItem("x", "其他", Decimal(1), "次", 1000, 1000)
    for bill_id, due, status in (("bl_a", "2026-11-30", "unpaid"), ("bl_b", "2026-12-01", "unpaid"),
                                 ("bl_c", "2026-11-01", "paid"), ("bl_d", "2026-11-15", "processing")):
        s.bills.create(Bill(bill_id, "unit1", "c1", "1号楼 101", "other", PERIOD, (item,), due, status,
                            owner_ids=frozenset({"o1"})))
    s.bills.create(Bill("bl_e", "unit2", "c1", "1号楼 102", "other", PERIOD, (item,), "2026-11-01",
                        owner_ids=frozenset({"o2"})))
    # 17:00 UTC on 30 November is already 1 December in Shanghai: the bill due on the 30th is overdue.
    s.clock.now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    summary = s.service.summary(owner("o1", "unit1"), s.communities.get_community("c1"))
    assert (summary.unpaid_count, summary.unpaid_total_cents, summary.overdue_count) == (3, 3000, 2)
