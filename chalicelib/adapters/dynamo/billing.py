"""DynamoDB repositories of fee schedules, readings, billing runs and bills (payments are in payments.py)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import is_conditional_failure, save_once
from chalicelib.adapters.dynamo.billing_models import (
    BillingRunModel,
    BillItemMap,
    BillModel,
    FeeScheduleModel,
    MeterReadingModel,
    OwnerBillModel,
    OwnerBillSummaryModel,
    PropertyItemMap,
)
from chalicelib.adapters.dynamo.models import BuildingModel, UniqueKeyModel, UnitModel
from chalicelib.adapters.dynamo.repositories import connection
from chalicelib.domain.billing import (
    LIST_SHARDS,
    METER_KINDS,
    OPEN_STATUSES,
    Bill,
    BillItem,
    FeeSchedule,
    MeterReading,
    PropertyItem,
    RunProgress,
    UnitToBill,
    list_shard,
    unpaid_shard,
)
from chalicelib.domain.bills import OpenBill
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict

# -- fee schedules and readings -------------------------------------------------------------------


class DynamoFeeSchedules:
    def put(self, schedule: FeeSchedule) -> None:
        FeeScheduleModel(schedule.community_id, water_cents_per_ton=schedule.water_cents_per_ton,
                         electricity_cents_per_kwh=schedule.electricity_cents_per_kwh, due_days=schedule.due_days,
                         updated_at=schedule.updated_at,
                         property_items=[PropertyItemMap(code=i.code, name=i.name,
                                                         rate_cents_per_m2=i.rate_cents_per_m2)
                                         for i in schedule.property_items]).save()

    def get(self, community_id: str) -> FeeSchedule | None:
        try:
            m = FeeScheduleModel.get(community_id)
        except DoesNotExist:
            return None
        return FeeSchedule(m.community_id, tuple(PropertyItem(i.code, i.name, i.rate_cents_per_m2)
                                                 for i in m.property_items), m.water_cents_per_ton,
                           m.electricity_cents_per_kwh, m.due_days, m.updated_at)


def _reading(m: MeterReadingModel) -> MeterReading:
    return MeterReading(m.unit_id, m.community_period.split("#", 1)[0], m.kind, m.period, Decimal(m.reading),
                        Decimal(m.previous) if m.previous is not None else None, m.recorded_at)


class DynamoReadings:
    def neighbours(self, unit_id: str, kind: str, period: str) -> tuple[MeterReading | None, MeterReading | None]:
        """The meter's readings just before and just after `period` (two one-item index queries)."""
        meter = f"{unit_id}#{kind}"
        before = next(iter(MeterReadingModel.by_meter.query(meter, MeterReadingModel.period < period,
                                                            scan_index_forward=False, limit=1)), None)
        after = next(iter(MeterReadingModel.by_meter.query(meter, MeterReadingModel.period > period, limit=1)), None)
        return (_reading(before) if before else None), (_reading(after) if after else None)

    def put(self, reading: MeterReading) -> None:
        MeterReadingModel(f"{reading.community_id}#{reading.period}", f"{reading.unit_id}#{reading.kind}",
                          unit_id=reading.unit_id, kind=reading.kind, period=reading.period,
                          reading=str(reading.reading),
                          previous=str(reading.previous) if reading.previous is not None else None,
                          recorded_at=reading.recorded_at).save()

    def for_units(self, community_id: str, period: str, unit_ids: list[str]) -> dict[str, dict[str, MeterReading]]:
        """The period's readings of these units, by unit and kind: `BatchGetItem` on the table's key (100 keys a
        call), so a billing-run chunk reads its own units' meters and nothing else of the period."""
        keys = [(f"{community_id}#{period}", f"{unit_id}#{kind}") for unit_id in unit_ids for kind in METER_KINDS]
        found: dict[str, dict[str, MeterReading]] = {}
        if keys:
            for m in MeterReadingModel.batch_get(keys):
                found.setdefault(m.unit_id, {})[m.kind] = _reading(m)
        return found


# -- bills ----------------------------------------------------------------------------------------


def _group(status: str) -> str:
    return "open" if status in OPEN_STATUSES else status


def bill_model(bill: Bill) -> BillModel:
    return BillModel(
        bill.bill_id, unit_id=bill.unit_id, community_id=bill.community_id, unit_label=bill.unit_label,
        type=bill.type, period=bill.period, due_date=bill.due_date, status=bill.status, created_at=bill.created_at,
        items=[BillItemMap(code=i.code, name=i.name, quantity=str(i.quantity), unit=i.unit,
                           unit_price_cents=i.unit_price_cents, amount_cents=i.amount_cents) for i in bill.items],
        total_cents=bill.total_cents, paid_at=bill.paid_at, payment_id=bill.payment_id, hold_until=bill.hold_until,
        period_bill=f"{bill.period}#{bill.bill_id}",
        community_period=list_partition(bill.community_id, bill.period, list_shard(bill.bill_id)),
        status_bill=f"{bill.status}#{bill.unit_label}#{bill.bill_id}",
        unpaid_shard=unpaid_shard(bill.bill_id) if bill.status in OPEN_STATUSES else None,
        due_bill=f"{bill.due_date}#{bill.bill_id}",
        owner_ids=set(bill.owner_ids) or None,
    )


def bill_from_model(m: BillModel) -> Bill:
    return Bill(m.bill_id, m.unit_id, m.community_id, m.unit_label, m.type, m.period,
                tuple(BillItem(i.code, i.name, Decimal(i.quantity), i.unit, i.unit_price_cents, i.amount_cents)
                      for i in m.items), m.due_date, m.status, m.created_at, m.paid_at, m.payment_id,
                int(m.hold_until) if m.hold_until is not None else None, frozenset(m.owner_ids or ()))


def bill_status_actions(bill_id: str, unit_id: str, unit_label: str, status: str) -> list[Any]:
    """The index attributes that follow a bill's status (they move it between the owner and staff lists)."""
    actions = [BillModel.status.set(status), BillModel.status_bill.set(f"{status}#{unit_label}#{bill_id}")]
    if status in OPEN_STATUSES:
        actions.append(BillModel.unpaid_shard.set(unpaid_shard(bill_id)))
    else:
        actions.append(BillModel.unpaid_shard.remove())
    return actions


# -- owners' copies of bills ----------------------------------------------------------------------
# Each owner of a bill (its unit's owners when it was made) has a copy in `owner-bills` and an entry in their
# `owner-bill-summaries` item while it is open. Every bill write keeps them: creation writes them with the
# bill, a status change changes them in the bill's own transaction (`change_bills`). docs/data-model.md.


def owner_copy(bill: Bill, owner_id: str) -> OwnerBillModel:
    return OwnerBillModel(
        owner_id, f"{bill.period}#{bill.bill_id}", group_bill=f"{_group(bill.status)}#{bill.period}#{bill.bill_id}",
        bill_id=bill.bill_id, unit_id=bill.unit_id, community_id=bill.community_id, unit_label=bill.unit_label,
        type=bill.type, period=bill.period,
        items=[BillItemMap(code=i.code, name=i.name, quantity=str(i.quantity), unit=i.unit,
                           unit_price_cents=i.unit_price_cents, amount_cents=i.amount_cents) for i in bill.items],
        total_cents=bill.total_cents, due_date=bill.due_date, status=bill.status, created_at=bill.created_at,
        paid_at=bill.paid_at, payment_id=bill.payment_id, hold_until=bill.hold_until)


def bill_from_copy(m: OwnerBillModel) -> Bill:
    return Bill(m.bill_id, m.unit_id, m.community_id, m.unit_label, m.type, m.period,
                tuple(BillItem(i.code, i.name, Decimal(i.quantity), i.unit, i.unit_price_cents, i.amount_cents)
                      for i in m.items), m.due_date, m.status, m.created_at, m.paid_at, m.payment_id,
                int(m.hold_until) if m.hold_until is not None else None, frozenset({m.owner_id}))


def summary_entry(bill_id: str, due_date: str, total_cents: int) -> str:
    return f"{bill_id}|{due_date}|{int(total_cents)}"


def open_bills_of(m: OwnerBillSummaryModel | None) -> list[OpenBill]:
    """The open bills an owner's summary item lists (closed ones left out, however late they were added)."""
    if m is None:
        return []
    closed = set(m.closed_bills or ())
    found = []
    for entry in sorted(m.open_bills or ()):
        bill_id, due, total = entry.split("|")
        if bill_id not in closed:
            found.append(OpenBill(bill_id, due, int(total)))
    return found


def _by_owner(bills: list[Any]) -> dict[str, list[Any]]:
    owners: dict[str, list[Any]] = {}
    for bill in bills:
        for owner_id in sorted(bill.owner_ids or ()):
            owners.setdefault(owner_id, []).append(bill)
    return owners


def put_owner_copies(bills: list[Bill]) -> None:
    """The owners' copies of new bills, by BatchWriteItem (written before the bills themselves, so a bill
    with owners always has its copies when a payment changes them)."""
    with OwnerBillModel.batch_write() as batch:
        for bill in bills:
            for owner_id in sorted(bill.owner_ids):
                batch.save(owner_copy(bill, owner_id))


def add_to_summaries(bills: list[Bill]) -> None:
    """One idempotent UpdateItem per owner (ADD to a set; an entry closed meanwhile stays closed)."""
    for owner_id, owned in _by_owner([b for b in bills if b.status in OPEN_STATUSES]).items():
        OwnerBillSummaryModel(owner_id).update(actions=[OwnerBillSummaryModel.open_bills.add(
            {summary_entry(b.bill_id, b.due_date, b.total_cents) for b in owned})])


def transaction_items(bills: list[Any]) -> int:
    """How many items of a transaction changing `bills` the bills and their owners' copies take."""
    return sum(1 + len(b.owner_ids or ()) for b in bills) + len(_by_owner(bills))


def _field_actions(model: Any, changes: dict[str, Any]) -> list[Any]:
    return [getattr(model, name).remove() if value is None else getattr(model, name).set(value)
            for name, value in changes.items()]


def change_bills(tx: TransactWrite, bills: list[Any], status: str, changes: dict[str, Any], condition: Any) -> None:
    """Within `tx`: each bill moves to `status` with `changes` (None removes an attribute) under `condition`,
    and so do its owners' copies; a bill leaving the open group leaves its owners' summaries.

    `bills` are `Bill`s or `BillModel`s (anything with the bill's ids, period, due date, total and owners).
    """
    for bill in bills:
        tx.update(BillModel(bill.bill_id), actions=[
            *bill_status_actions(bill.bill_id, bill.unit_id, bill.unit_label, status),
            *_field_actions(BillModel, changes)], condition=condition)
        for owner_id in sorted(bill.owner_ids or ()):
            tx.update(OwnerBillModel(owner_id, f"{bill.period}#{bill.bill_id}"), actions=[
                OwnerBillModel.status.set(status),
                OwnerBillModel.group_bill.set(f"{_group(status)}#{bill.period}#{bill.bill_id}"),
                *_field_actions(OwnerBillModel, changes)])
    if status in OPEN_STATUSES:
        return
    for owner_id, owned in _by_owner(bills).items():
        tx.update(OwnerBillSummaryModel(owner_id), actions=[
            OwnerBillSummaryModel.open_bills.delete({summary_entry(b.bill_id, b.due_date, b.total_cents)
                                                     for b in owned}),
            OwnerBillSummaryModel.closed_bills.add({b.bill_id for b in owned})])


def attach_unowned_bills(unit_id: str) -> int:
    """Give the unit's bills that have no owners (billed while it had none, or made before bills recorded
    their owners) to its current owners: their copies, summary entries and `owner_ids`. Idempotent.

    Bills that have owners are never touched: a new owner of a flat does not see a former owner's bills.
    """
    try:
        owners = set(UnitModel.get(unit_id, attributes_to_get=["owner_ids"]).owner_ids or ())
    except DoesNotExist:
        return 0
    if not owners:
        return 0
    attached = 0
    for m in BillModel.by_unit.query(unit_id, filter_condition=BillModel.owner_ids.does_not_exist()):
        bill = replace(bill_from_model(m), owner_ids=frozenset(owners))
        put_owner_copies([bill])
        try:
            # The copies are written first; the bill claims its owners only if nobody claimed it meanwhile.
            m.update(actions=[BillModel.owner_ids.set(owners)], condition=BillModel.owner_ids.does_not_exist())
        except UpdateError as error:
            if is_conditional_failure(error):
                continue
            raise
        add_to_summaries([bill])
        attached += 1
    return attached


class DynamoBills:
    def create(self, bill: Bill) -> None:
        if not bill.owner_ids:
            try:
                save_once(bill_model(bill), BillModel.bill_id.does_not_exist())
            except PutError as error:
                if is_conditional_failure(error):
                    raise Conflict("The bill already exists.") from None
                raise
            return
        try:
            # The bill, its owners' copies and their summaries: one transaction.
            with TransactWrite(connection=connection()) as tx:
                tx.save(bill_model(bill), condition=BillModel.bill_id.does_not_exist())
                for owner_id in sorted(bill.owner_ids):
                    tx.save(owner_copy(bill, owner_id))
                    tx.update(OwnerBillSummaryModel(owner_id), actions=[OwnerBillSummaryModel.open_bills.add(
                        {summary_entry(bill.bill_id, bill.due_date, bill.total_cents)})])
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise Conflict("The bill already exists.") from None
            raise

    def write_batch(self, bills: list[Bill]) -> None:
        """BatchWriteItem in 25s (PynamoDB retries unprocessed items). Callers only pass bills that don't exist."""
        put_owner_copies(bills)
        with BillModel.batch_write() as batch:
            for bill in bills:
                batch.save(bill_model(bill))
        add_to_summaries(bills)

    def get(self, bill_id: str) -> Bill | None:
        try:
            return bill_from_model(BillModel.get(bill_id, consistent_read=True))
        except DoesNotExist:
            return None

    def get_many(self, bill_ids: list[str]) -> dict[str, Bill]:
        if not bill_ids:
            return {}
        return {m.bill_id: bill_from_model(m) for m in BillModel.batch_get(bill_ids, consistent_read=True)}

    def list_for_owner(self, owner_id: str, group: str | None, limit: int,
                       start: dict[str, Any] | None) -> tuple[list[Bill], dict[str, Any] | None]:
        if group is None:
            result = OwnerBillModel.query(owner_id, scan_index_forward=False, limit=limit, last_evaluated_key=start,
                                          consistent_read=True)
        else:
            result = OwnerBillModel.by_group.query(owner_id, OwnerBillModel.group_bill.startswith(f"{group}#"),
                                                   scan_index_forward=False, limit=limit, last_evaluated_key=start,
                                                   consistent_read=True)
        items = [bill_from_copy(m) for m in result]
        return items, (result.last_evaluated_key if len(items) == limit else None)

    def open_for_owner(self, owner_id: str) -> list[OpenBill]:
        try:
            return open_bills_of(OwnerBillSummaryModel.get(owner_id, consistent_read=True))
        except DoesNotExist:
            return []

    def list_for_community(self, community_id: str, period: str, status: str | None, limit: int,
                           start: dict[str, Any] | None) -> Page[Bill]:
        """A community period's bills, shard after shard (each in `status_bill` order): a page queries the
        shard its position names and, when that one runs out, the next ones. The position is the shard's
        index and the key to continue after in it."""
        condition = BillModel.status_bill.startswith(f"{status}#") if status else None
        partitions = list_partitions(community_id, period)
        shard, key = _list_position(start, len(partitions))
        items: list[Bill] = []
        while shard < len(partitions) and len(items) < limit:
            want = limit - len(items)
            result = BillModel.by_community_period.query(partitions[shard], condition, limit=want,
                                                         last_evaluated_key=key)
            found = [bill_from_model(m) for m in result]
            items += found
            if len(found) == want and result.last_evaluated_key:
                return Page(items, {"shard": shard, "key": result.last_evaluated_key})
            shard, key = shard + 1, None
        return Page(items, {"shard": shard, "key": None} if shard < len(partitions) else None)

    # -- billing-run writes (kept apart from the single-bill writes above) --

    def create_missing(self, bills: list[Bill]) -> int:
        """Create the bills that don't exist yet, each with its owners' copies, in transactions of conditional
        puts (`attribute_not_exists`, at most 100 items each): a bill that exists (a redone chunk, a re-run,
        paid meanwhile) is never overwritten, nor are its copies; its failed condition only means "already
        created". Then the owners' summaries get the chunk's bills (idempotent, and a bill closed meanwhile
        stays closed), so a chunk redone after a crash between the two steps still completes them."""
        created = sum(_create_group(group) for group in _transaction_groups(bills))
        add_to_summaries(bills)
        return created


RUN_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_GROUP_TRIES = 3


def _transaction_groups(bills: list[Bill]) -> list[list[Bill]]:
    """`bills` in order, packed into groups whose bills and copies fit one transaction."""
    groups: list[list[Bill]] = []
    size = RUN_TRANSACTION_ITEMS
    for bill in bills:
        items = 1 + len(bill.owner_ids)
        if size + items > RUN_TRANSACTION_ITEMS:
            groups.append([])
            size = 0
        groups[-1].append(bill)
        size += items
    return groups


def _create_group(bills: list[Bill]) -> int:
    """One transaction of conditional puts of the bills and their copies; the bills whose condition failed are
    dropped and the rest tried again (a transaction is all or nothing). Returns how many were created."""
    pending = bills
    for _ in range(_GROUP_TRIES):
        if not pending:
            return 0
        owners: list[int] = []  # for each item of the transaction, the index of its bill in `pending`
        try:
            with TransactWrite(connection=connection()) as tx:
                for index, bill in enumerate(pending):
                    tx.save(bill_model(bill), condition=BillModel.bill_id.does_not_exist())
                    owners.append(index)
                    for owner_id in sorted(bill.owner_ids):
                        tx.save(owner_copy(bill, owner_id), condition=OwnerBillModel.owner_id.does_not_exist())
                        owners.append(index)
            return len(pending)
        except TransactWriteError as error:
            codes = _cancellation_codes(error, len(owners))
            if codes is None:
                raise
            # "TransactionConflict": another transaction touched the item at the same moment; tried again.
            existing = {owners[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            pending = [bill for index, bill in enumerate(pending) if index not in existing]
    raise RuntimeError("billing-run bills kept conflicting")


def _cancellation_codes(error: TransactWriteError, size: int) -> list[str | None] | None:
    """Each item's cancellation reason, or None when the failure is of another kind (then it is raised)."""
    if getattr(error, "cause_response_code", None) != "TransactionCanceledException":
        return None
    reasons = getattr(error, "cancellation_reasons", None) or []
    codes = [r.code if r is not None and r.code != "None" else None for r in reasons]
    if len(codes) != size or any(c not in (None, "ConditionalCheckFailed", "TransactionConflict") for c in codes):
        return None
    return codes


def list_partition(community_id: str, period: str, shard: str) -> str:
    """A partition key of the `by-community-period` index; "" names the unsharded key bills had before."""
    return f"{community_id}#{period}#{shard}" if shard else f"{community_id}#{period}"


def list_partitions(community_id: str, period: str) -> list[str]:
    """Every partition a community period's bills may be in: the shards, then the unsharded key of the bills
    written before the index was sharded (so they stay listed without a backfill)."""
    return [list_partition(community_id, period, str(n)) for n in range(LIST_SHARDS)] + [
        list_partition(community_id, period, "")]


def _list_position(start: dict[str, Any] | None, partitions: int) -> tuple[int, dict[str, Any] | None]:
    if not start:
        return 0, None
    if "shard" not in start:  # a cursor issued before sharding: a key in the unsharded partition
        return partitions - 1, start
    return int(start["shard"]), start["key"]


# -- billing runs ---------------------------------------------------------------------------------


def _bills_created(m: BillingRunModel) -> int:
    if m.chunk_bills is None:
        return m.bills_created or 0
    return sum(int(n) for n in m.chunk_bills.as_dict().values())


def chunk_key(cursor: str) -> str:
    """The name of a chunk in `chunk_bills`: short and stable for the chunk's starting position."""
    return "c" + hashlib.sha256(cursor.encode()).hexdigest()[:16]


def _run(m: BillingRunModel) -> RunProgress:
    return RunProgress(m.run_id, m.community_id, m.period, m.status, m.created_at, _bills_created(m),
                       m.units_done or 0, m.units_total, m.error, m.finished_at,
                       {"cursor": m.cursor or "", "attempt": str(m.attempt or 0),
                        "lease_until": str(int(m.lease_until or 0))})


class DynamoBillingRuns:
    def claim(self, run: RunProgress) -> RunProgress:
        """Create the run of a community and period, or return the existing one (one run per period)."""
        claim = UniqueKeyModel(f"billing-run#{run.community_id}#{run.period}", owner_id=run.run_id)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(claim, condition=UniqueKeyModel.key.does_not_exist())
                tx.save(BillingRunModel(run.run_id, community_id=run.community_id, period=run.period,
                                        status="running", created_at=run.created_at, cursor=None, attempt=1),
                        condition=BillingRunModel.run_id.does_not_exist())
            return run
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
        existing = UniqueKeyModel.get(claim.key, consistent_read=True)
        return self.get(existing.owner_id)  # type: ignore[return-value]

    def restart(self, run_id: str) -> bool:
        """Start a finished or failed run again from the first unit (it skips bills that exist)."""
        try:
            BillingRunModel(run_id).update(
                actions=[BillingRunModel.status.set("running"), BillingRunModel.cursor.remove(),
                         BillingRunModel.units_done.set(0), BillingRunModel.chunk_bills.set({}),
                         BillingRunModel.attempt.add(1),
                         BillingRunModel.error.remove(), BillingRunModel.finished_at.remove(),
                         BillingRunModel.lease_until.remove()],
                condition=BillingRunModel.status != "running")
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def get(self, run_id: str) -> RunProgress | None:
        try:
            return _run(BillingRunModel.get(run_id, consistent_read=True))
        except DoesNotExist:
            return None

    def take_lease(self, run_id: str, attempt: int, cursor: str, now: int, until: int) -> bool:
        """One worker per chunk: the lease is taken only at the expected position of the current attempt."""
        position = (BillingRunModel.cursor == cursor) if cursor else BillingRunModel.cursor.does_not_exist()
        free = BillingRunModel.lease_until.does_not_exist() | (BillingRunModel.lease_until < now)
        try:
            # chunk_bills is created here when absent (runs written before it existed), for advance() to set into
            BillingRunModel(run_id).update(actions=[BillingRunModel.lease_until.set(until),
                                                    BillingRunModel.chunk_bills.set(BillingRunModel.chunk_bills | {})],
                                           condition=(BillingRunModel.status == "running")
                                           & (BillingRunModel.attempt == attempt) & position & free)
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def advance(self, run_id: str, attempt: int, cursor: str, next_cursor: str | None, chunk_bills: int,
                units: int, finished_at: str | None) -> None:
        # The chunk's count is set, never added: a chunk done again after a lost progress write counts once.
        actions = [BillingRunModel.chunk_bills[chunk_key(cursor)].set(chunk_bills),
                   BillingRunModel.units_done.add(units), BillingRunModel.lease_until.remove()]
        if next_cursor is None:
            actions += [BillingRunModel.status.set("done"), BillingRunModel.finished_at.set(finished_at),
                        BillingRunModel.cursor.set("end"), BillingRunModel.units_total.set(0)]
        else:
            actions.append(BillingRunModel.cursor.set(next_cursor))
        position = (BillingRunModel.cursor == cursor) if cursor else BillingRunModel.cursor.does_not_exist()
        BillingRunModel(run_id).update(actions=actions, condition=(BillingRunModel.attempt == attempt) & position)
        if next_cursor is None:
            # units_total = units_done once finished (set after the add so it sees the final count).
            m = BillingRunModel.get(run_id, consistent_read=True)
            BillingRunModel(run_id).update(actions=[BillingRunModel.units_total.set(m.units_done)])

    def fail(self, run_id: str, attempt: int, message: str, at: str) -> None:
        actions = [BillingRunModel.status.set("failed"), BillingRunModel.error.set(message),
                   BillingRunModel.finished_at.set(at), BillingRunModel.lease_until.remove()]
        BillingRunModel(run_id).update(actions=actions, condition=BillingRunModel.attempt == attempt)


class DynamoUnitsForBilling:
    """A community's units in pages, with the labels bills show ("1号楼 101")."""

    def page(self, community_id: str, limit: int, start: dict[str, Any] | None
             ) -> tuple[list[UnitToBill], dict[str, Any] | None]:
        result = UnitModel.by_community.query(community_id, limit=limit, last_evaluated_key=start)
        models = list(result)
        # Only the page's own buildings (a few): reading all of a big community's buildings per page would not be.
        building_ids = sorted({m.building_id for m in models})
        buildings = {b.building_id: b.name for b in BuildingModel.batch_get([(community_id, b) for b in building_ids])
                     } if building_ids else {}
        units = [UnitToBill(m.unit_id, m.community_id, f"{buildings.get(m.building_id, '')} {m.unit_no}".strip(),
                            Decimal(m.area_m2), frozenset(m.owner_ids or ())) for m in models]
        return units, (result.last_evaluated_key if len(units) == limit else None)

    def get(self, unit_id: str) -> UnitToBill | None:
        try:
            m = UnitModel.get(unit_id)
        except DoesNotExist:
            return None
        try:
            building = BuildingModel.get(m.community_id, m.building_id).name
        except DoesNotExist:
            building = ""
        return UnitToBill(m.unit_id, m.community_id, f"{building} {m.unit_no}".strip(), Decimal(m.area_m2),
                          frozenset(m.owner_ids or ()))


def encode_position(position: dict[str, Any] | None) -> str | None:
    return json.dumps(position, sort_keys=True, separators=(",", ":")) if position else None


def decode_position(cursor: str) -> dict[str, Any] | None:
    return json.loads(cursor) if cursor else None
