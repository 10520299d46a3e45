"""Benchmark: billing runs of growing communities under moto — what each unit costs, at every size.

Run from the repo root: `python -m bench billing_run` (quick: 1,000 and 5,000 units; `BENCH_MODE=full`: 1,000,
10,000 and 50,000). Each size is a fresh emulator holding one community (200 units a building, a water and an
electricity reading per unit); the run is worked as the jobs consumer works it, one simulated invocation per queued
message, each with the budget a fresh invocation of the consumer gives it (`domain.jobs.Budget`). A botocore hook on
every client counts DynamoDB calls and the items they return; CPU inside AWS calls (botocore and moto) is kept apart
from the app's own (the service, the adapters and PynamoDB), so "app CPU per unit" is what the Lambda would spend
outside the network. The figures that must not grow with the community: items read per unit, calls per unit, app CPU
per unit.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from bench._aws import test_stage_environment
from bench._common import sized

PERIOD = "2026-10"
UNITS_PER_BUILDING = 200


class DynamoMeter:
    """Counts DynamoDB calls, the items they return and the CPU spent inside them, on every client created
    after `install()` (PynamoDB's and boto3's alike)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0
        self.inside_cpu = 0.0
        self._started: list[float] = []

    def before(self, model, **_):
        self.calls[model.name] += 1
        self._started.append(time.process_time())

    def after(self, model, parsed, **_):
        if self._started:
            self.inside_cpu += time.process_time() - self._started.pop()
        if not isinstance(parsed, dict):
            return
        if "Items" in parsed:
            self.items_read += len(parsed["Items"])
        elif "Item" in parsed:
            self.items_read += 1
        elif "Responses" in parsed and model.name == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed["Responses"].values())

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        meter = self

        def create_client(session, *args, **kwargs):
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call.dynamodb.*", meter.before)
            client.meta.events.register("after-call.dynamodb.*", meter.after)
            return client

        botocore.session.Session.create_client = create_client

    def reset(self) -> None:
        self.calls.clear()
        self.items_read, self.inside_cpu, self._started = 0, 0.0, []


@dataclass
class Figures:
    units: int
    bills: int
    invocations: int
    items_read: int
    calls: Counter[str]
    app_cpu: float
    total_cpu: float
    wall: float

    def per_unit(self, value: float) -> float:
        return value / self.units


def _cheap_transaction_backups() -> None:
    """Make moto's `TransactWriteItems` cost what DynamoDB's does: O(items), not O(table).

    moto backs a transaction up by deep-copying the whole table once per item of the transaction, so a 100-bill
    transaction into a table of 100,000 bills copies 10 million items (an emulator artifact that would swamp
    every figure here). Installed for the benchmark only: the table copy becomes a no-op and this wrapper backs
    up the items the transaction names instead, putting them back if moto cancels it.
    """
    import copy
    import types

    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    backend_module.copy = types.SimpleNamespace(  # type: ignore[attr-defined]
        deepcopy=lambda value, memo=None: value if isinstance(value, Table) else copy.deepcopy(value, memo),
        copy=copy.copy)
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if "Item" in op:
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            current = self.get_item(op["TableName"], key)
            saved.append((op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(saved):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def _setup(units: int) -> str:
    from chalicelib.adapters.dynamo.billing import DynamoFeeSchedules
    from chalicelib.adapters.dynamo.billing_models import MeterReadingModel
    from chalicelib.adapters.dynamo.models import BuildingModel, CommunityModel, UnitModel
    from chalicelib.domain.billing import FeeSchedule, PropertyItem
    from devstack.provision import provision

    provision()
    cid = "c_bench"
    CommunityModel(cid, name="基准小区", address="上海", timezone="Asia/Shanghai",
                   created_at="2026-01-01T00:00:00Z").save()
    buildings = (units + UNITS_PER_BUILDING - 1) // UNITS_PER_BUILDING
    with BuildingModel.batch_write() as batch:
        for b in range(buildings):
            batch.save(BuildingModel(cid, f"b_{b:03d}", name=f"{b + 1}号楼", created_at="2026-01-01T00:00:00Z"))
    with UnitModel.batch_write() as batch:
        for i in range(units):
            building = f"b_{i // UNITS_PER_BUILDING:03d}"
            batch.save(UnitModel(f"un_{i:06d}", community_id=cid, building_id=building,
                                 building_unit=f"{building}#{i:06d}", unit_no=f"{i % UNITS_PER_BUILDING + 101}",
                                 floor=1, area_m2="89.56", layout="3室", created_at="t"))
    # The period's readings only: each stores the previous period's value, so the run reads nothing else.
    with MeterReadingModel.batch_write() as batch:
        for i in range(units):
            for kind in ("water", "electricity"):
                batch.save(MeterReadingModel(f"{cid}#{PERIOD}", f"un_{i:06d}#{kind}", unit_id=f"un_{i:06d}",
                                             kind=kind, period=PERIOD, reading="112", previous="100",
                                             recorded_at="t"))
    DynamoFeeSchedules().put(FeeSchedule(cid, (PropertyItem("cleaning", "保洁费", 80),
                                               PropertyItem("security", "保安费", 55)), 450, 62, 15, "t"))
    return cid


def _work(cid: str) -> tuple[int, int]:
    """The run, as the jobs consumer works it: one invocation per queued message, each with its budget."""
    from chalicelib import deps
    from chalicelib.adapters.dynamo.billing import (
        DynamoBillingRuns,
        DynamoBills,
        DynamoFeeSchedules,
        DynamoReadings,
        DynamoUnitsForBilling,
        decode_position,
        encode_position,
    )
    from chalicelib.domain.billing import RunProgress
    from chalicelib.domain.bills import FIRST_CHUNK_SECONDS, BillingService
    from chalicelib.domain.jobs import Budget

    queue: list[dict] = []  # the bench plays the jobs queue (SQS is not what is measured)
    service = BillingService(deps.communities(), DynamoUnitsForBilling(), DynamoFeeSchedules(), DynamoReadings(),
                             DynamoBills(), DynamoBillingRuns(), queue.append, encode_position, decode_position)
    run = DynamoBillingRuns().claim(RunProgress("run_bench", cid, PERIOD, "running", "t"))
    queue.append({"run_id": run.run_id, "attempt": 1, "cursor": ""})
    invocations = 0
    while queue:
        job = queue.pop(0)
        invocations += 1
        # a fresh 30 s invocation, as the jobs consumer gives the billing-run job (events/billing.py)
        service.work_run(job["run_id"], job["attempt"], job["cursor"],
                         budget=Budget.for_invocation(_FreshInvocation(), expect=FIRST_CHUNK_SECONDS))
    finished = DynamoBillingRuns().get(run.run_id)
    assert finished is not None and finished.status == "done", finished
    return finished.bills_created, invocations


class _FreshInvocation:
    """A Lambda context at the start of a 30 s invocation (`.chalice/config.json` `lambda_timeout`)."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _measure(units: int, meter: DynamoMeter) -> Figures:
    from moto import mock_aws

    with mock_aws():
        from chalicelib import deps

        deps.reset()
        cid = _setup(units)
        meter.reset()
        cpu, wall = time.process_time(), time.perf_counter()
        bills, invocations = _work(cid)
        total_cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        figures = Figures(units, bills, invocations, meter.items_read, Counter(meter.calls),
                          total_cpu - meter.inside_cpu, total_cpu, wall)
        deps.reset()
    return figures


def run() -> str:
    test_stage_environment()
    _cheap_transaction_backups()
    meter = DynamoMeter()
    meter.install()
    rows = [_measure(units, meter) for units in sized((1_000, 5_000), (1_000, 10_000, 50_000))]
    lines = [
        "Billing runs under moto, in process: one community, 200 units a building, a water and an electricity "
        "reading per unit (3 bills a unit). Items read = items DynamoDB returned (`Query`, `GetItem`, "
        "`BatchGetItem`); app CPU = process CPU outside AWS calls (the service, the adapters, PynamoDB).",
        "",
        "| units | bills | invocations | items read | items read / unit | DynamoDB calls / unit | "
        "app CPU / unit (ms) | total CPU / unit incl. moto (ms) | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        lines.append(f"| {f.units:,} | {f.bills:,} | {f.invocations} | {f.items_read:,} | "
                     f"{f.per_unit(f.items_read):.3f} | {f.per_unit(sum(f.calls.values())):.3f} | "
                     f"{f.per_unit(f.app_cpu) * 1000:.2f} | {f.per_unit(f.total_cpu) * 1000:.2f} | {f.wall:.1f} |")
    largest = rows[-1]
    lines += ["", f"Calls at {largest.units:,} units by operation: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(largest.calls.items()))]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())

