"""Fee schedules, meter readings, billing runs and bill queries (API.md §6), over small ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain.billing import (
    Bill,
    BillItem,
    FeeSchedule,
    MeterReading,
    ReadingWentDown,
    RunProgress,
    UnitToBill,
    bills_for_unit,
    check_reading,
    due_date,
    line_amount,
)
from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.jobs import Budget
from chalicelib.domain.model import Community, Principal
from chalicelib.domain.ports import Page
from chalicelib.errors import NotFound, ValidationFailed, field_error

# Units per chunk: a chunk reads only its units and their readings and writes their bills, so it costs the same
# at any community size (about a second); an invocation works chunks while its time budget allows.
RUN_CHUNK_UNITS = 250
FIRST_CHUNK_SECONDS = 2.0  # what a chunk is assumed to take until one has been timed in the invocation
LEASE_SECONDS = 300


class Communities(Protocol):
    def get_community(self, community_id: str) -> Community | None: ...


class Units(Protocol):
    def page(self, community_id: str, limit: int, start: dict[str, Any] | None
             ) -> tuple[list[UnitToBill], dict[str, Any] | None]: ...

    def get(self, unit_id: str) -> UnitToBill | None: ...


class Schedules(Protocol):
    def put(self, schedule: FeeSchedule) -> None: ...

    def get(self, community_id: str) -> FeeSchedule | None: ...


class Readings(Protocol):
    def neighbours(self, unit_id: str, kind: str, period: str) -> tuple[MeterReading | None, MeterReading | None]: ...

    def put(self, reading: MeterReading) -> None: ...

    def for_units(self, community_id: str, period: str, unit_ids: list[str]) -> dict[str, dict[str, MeterReading]]:
        """The period's readings of these units only, by unit and kind (read by key)."""
        ...


class Bills(Protocol):
    def create(self, bill: Bill) -> None: ...

    def write_batch(self, bills: list[Bill]) -> None: ...

    def create_missing(self, bills: list[Bill]) -> int:
        """Create each bill whose id does not exist yet (an existing one, paid or not, is left as it is);
        returns how many were created."""
        ...

    def get(self, bill_id: str) -> Bill | None: ...

    def list_for_owner(self, owner_id: str, group: str | None, limit: int,
                       start: dict[str, Any] | None) -> tuple[list[Bill], dict[str, Any] | None]:
        """An owner's bills (of every unit they owned when each was made), newest period first; `group`
        "open" (unpaid or processing), "paid", or None for all. One query whatever the number of units."""
        ...

    def open_for_owner(self, owner_id: str) -> list[OpenBill]:
        """The owner's open bills as their maintained summary lists them (one read)."""
        ...

    def list_for_community(self, community_id: str, period: str, status: str | None, limit: int,
                           start: dict[str, Any] | None) -> Page[Bill]: ...


class Runs(Protocol):
    def claim(self, run: RunProgress) -> RunProgress: ...

    def restart(self, run_id: str) -> bool: ...

    def get(self, run_id: str) -> RunProgress | None: ...

    def take_lease(self, run_id: str, attempt: int, cursor: str, now: int, until: int) -> bool: ...

    def advance(self, run_id: str, attempt: int, cursor: str, next_cursor: str | None, chunk_bills: int,
                units: int, finished_at: str | None) -> None:
        """Move past the chunk starting at `cursor`; `chunk_bills` (the bills that now exist for its units)
        replaces any count an earlier try of the same chunk recorded. Reported `bills_created` is the sum."""

    def fail(self, run_id: str, attempt: int, message: str, at: str) -> None: ...


@dataclass(frozen=True)
class NewAdHocBill:
    unit_id: str
    type: str
    period: str
    items: tuple[tuple[str, str, Decimal, str, int], ...]  # (code, name, quantity, unit, unit_price_cents)
    due_date: date


@dataclass(frozen=True)
class OpenBill:
    """An open bill as an owner's summary keeps it: enough to count, add up and tell overdue ones."""

    bill_id: str
    due_date: str
    total_cents: int


@dataclass(frozen=True)
class Summary:
    unpaid_count: int
    unpaid_total_cents: int
    overdue_count: int


class BillingService:
    def __init__(self, communities: Communities, units: Units, schedules: Schedules, readings: Readings,
                 bills: Bills, runs: Runs, enqueue: Callable[[dict[str, Any]], None],
                 encode: Callable[[dict[str, Any] | None], str | None],
                 decode: Callable[[str], dict[str, Any] | None], clock: Callable[[], datetime] = utcnow):
        self._communities = communities
        self._units = units
        self._schedules = schedules
        self._readings = readings
        self._bills = bills
        self._runs = runs
        self._enqueue = enqueue
        self._encode = encode
        self._decode = decode
        self._clock = clock

    def _community(self, caller: Principal, community_id: str) -> Community:
        if not caller.can_access_community(community_id):
            raise NotFound()
        community = self._communities.get_community(community_id)
        if community is None:
            raise NotFound()
        return community

    def _today(self, community: Community | None) -> date:
        tz = ZoneInfo(community.timezone if community else "Asia/Shanghai")
        return self._clock().astimezone(tz).date()

    # -- staff -----------------------------------------------------------------------------------

    def set_fee_schedule(self, caller: Principal, schedule: FeeSchedule) -> FeeSchedule:
        self._community(caller, schedule.community_id)
        codes = [i.code for i in schedule.property_items]
        if len(set(codes)) != len(codes):
            raise field_error("property_items", "must not repeat an item code")
        stored = FeeSchedule(schedule.community_id, schedule.property_items, schedule.water_cents_per_ton,
                             schedule.electricity_cents_per_kwh, schedule.due_days, iso(self._clock()))
        self._schedules.put(stored)
        return stored

    def record_reading(self, caller: Principal, unit_id: str, kind: str, period: str, value: Decimal) -> MeterReading:
        """Store a cumulative reading; it may not go below the previous period's (nor above the next one's)."""
        unit = self._units.get(unit_id)
        if unit is None or not caller.can_access_community(unit.community_id):
            raise NotFound("The unit was not found.")
        before, after = self._readings.neighbours(unit_id, kind, period)
        try:
            check_reading(value, before.reading if before else None, after.reading if after else None)
        except ReadingWentDown as problem:
            raise ValidationFailed("A meter reading never goes down.",
                                   details={"fields": {"reading": str(problem)}}) from None
        reading = MeterReading(unit_id, unit.community_id, kind, period, value, before.reading if before else None,
                               iso(self._clock()))
        self._readings.put(reading)
        return reading

    def create_bill(self, caller: Principal, cmd: NewAdHocBill) -> Bill:
        unit = self._units.get(cmd.unit_id)
        if unit is None or not caller.can_access_community(unit.community_id):
            raise NotFound("The unit was not found.")
        items = tuple(BillItem(code, name, qty, unit_name, price, line_amount(qty, price))
                      for code, name, qty, unit_name, price in cmd.items)
        bill = Bill(new_id("bl"), unit.unit_id, unit.community_id, unit.unit_label, cmd.type, cmd.period, items,
                    cmd.due_date.isoformat(), "unpaid", iso(self._clock()), owner_ids=unit.owner_ids)
        if bill.total_cents <= 0:
            raise field_error("items", "must add up to more than zero")
        self._bills.create(bill)
        return bill

    def list_community_bills(self, caller: Principal, community_id: str, period: str, status: str | None,
                             limit: int, start: dict[str, Any] | None) -> Page[Bill]:
        self._community(caller, community_id)
        return self._bills.list_for_community(community_id, period, status, limit, start)

    # -- billing runs ----------------------------------------------------------------------------

    def start_run(self, caller: Principal, community_id: str, period: str) -> RunProgress:
        """Claim the run of (community, period) and enqueue it; a second start re-runs the same run."""
        self._community(caller, community_id)
        if self._schedules.get(community_id) is None:
            raise ValidationFailed("The community has no fee schedule.", code="fee_schedule_missing")
        run = self._runs.claim(RunProgress(new_id("run"), community_id, period, "running", iso(self._clock())))
        if run.status != "running" and self._runs.restart(run.run_id):
            run = self._runs.get(run.run_id) or run
        if run.status == "running":
            self._enqueue({"run_id": run.run_id, "attempt": int(run.extra.get("attempt", "1")),
                           "cursor": run.extra.get("cursor", "")})
        return run

    def get_run(self, caller: Principal, run_id: str) -> RunProgress:
        run = self._runs.get(run_id)
        if run is None or not caller.can_access_community(run.community_id):
            raise NotFound()
        return run

    def work_run(self, run_id: str, attempt: int, cursor: str, chunk: int = RUN_CHUNK_UNITS,
                 budget: Budget | None = None) -> str:
        """Work a run's chunks from `cursor` while the invocation's `budget` allows (the worker); idempotent
        under redelivery. Enqueues the run where it stopped unless it is done.

        A chunk starts only while the slowest one so far (before the first, `FIRST_CHUNK_SECONDS`) would still
        end within the budget. Without a budget, one chunk per call.
        """
        budget = budget or Budget(None, max_steps=1)
        run = self._runs.get(run_id)
        if run is None or run.status != "running" or run.extra.get("attempt") != str(attempt):
            return "stale"
        while True:
            if not budget.left():
                # Out of time: the next invocation picks the run up where this one stopped.
                self._enqueue({"run_id": run_id, "attempt": attempt, "cursor": cursor})
                return "continued" if budget.steps else "deferred"
            epoch = int(self._clock().timestamp())
            if not self._runs.take_lease(run_id, attempt, cursor, epoch, epoch + LEASE_SECONDS):
                if budget.steps:  # the run was restarted meanwhile (a new attempt): its own message carries it on
                    return "stopped"
                return "busy" if self._at(run_id, attempt, cursor) else "stale"
            next_cursor = self._work_chunk(run, attempt, cursor, chunk)
            budget.step_done()
            if next_cursor is None:
                return "done"
            cursor = next_cursor

    def _at(self, run_id: str, attempt: int, cursor: str) -> bool:
        """Whether the run still waits at `cursor` (a lease refused there means another worker holds it; a
        duplicate message of a chunk already done finds the run moved on)."""
        run = self._runs.get(run_id)
        return (run is not None and run.status == "running" and run.extra.get("attempt") == str(attempt)
                and run.extra.get("cursor", "") == cursor)

    def _work_chunk(self, run: RunProgress, attempt: int, cursor: str, chunk: int) -> str | None:
        """Bill the units of one chunk (leased by the caller) and record it; the next chunk's cursor or None.

        Reads only the chunk: its units, their readings by key. Bills are created only where none exists yet
        (their ids are derived from unit, type and period), so a redone chunk never doubles nor overwrites one.
        """
        try:
            schedule = self._schedules.get(run.community_id)
            if schedule is None:
                raise ValueError("fee schedule missing")
            community = self._communities.get_community(run.community_id)
            due = due_date(self._today(community), schedule)
            units, last = self._units.page(run.community_id, chunk, self._decode(cursor))
            readings = self._readings.for_units(run.community_id, run.period, [u.unit_id for u in units])
            created_at = iso(self._clock())
            owed = [bill for unit in units
                    for bill in bills_for_unit(unit, schedule, run.period, readings.get(unit.unit_id, {}), due,
                                               created_at)]
            self._bills.create_missing(owed)
        except Exception:
            self._runs.fail(run.run_id, attempt, "The billing run failed; start it again to resume.",
                            iso(self._clock()))
            raise
        next_cursor = self._encode(last)
        # Every bill owed to the chunk's units exists now (written before, by an earlier try, or just now):
        # counting them, not this try's writes, keeps the count true when a chunk is redone.
        self._runs.advance(run.run_id, attempt, cursor, next_cursor, len(owed), len(units),
                           None if next_cursor else iso(self._clock()))
        return next_cursor

    # -- owners ----------------------------------------------------------------------------------

    def owner_bill(self, caller: Principal, bill_id: str) -> Bill:
        bill = self._bills.get(bill_id)
        if bill is None or not bill.belongs_to(caller.user_id, caller.unit_ids):
            raise NotFound()
        return bill

    def owner_bills(self, caller: Principal, status: str, limit: int,
                    start: dict[str, Any] | None) -> tuple[list[Bill], dict[str, Any] | None]:
        """The caller's bills, newest period first: those of the units they owned when each was billed."""
        group = {"unpaid": "open", "paid": "paid"}.get(status)
        return self._bills.list_for_owner(caller.user_id, group, limit, start)

    def owner_today(self) -> date:
        """Today where owners' bills fall due (overdue means due before this day)."""
        return self._today(None)

    def summary(self, caller: Principal, community: Community | None = None) -> Summary:
        """Open bills (unpaid or processing), their total and how many are overdue: one read."""
        return summarize(self._bills.open_for_owner(caller.user_id), self._today(community))


def summarize(open_bills: list[OpenBill], today: date) -> Summary:
    """The owner's summary of their open bills (overdue: due before today)."""
    return Summary(len(open_bills), sum(b.total_cents for b in open_bills),
                   sum(1 for b in open_bills if date.fromisoformat(b.due_date) < today))
