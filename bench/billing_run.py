"""Benchmark: a billing run for 10,000 units under moto, batched vs one call per item.

Run from the repo root: `python -m bench.billing_run` (or `python bench/billing_run.py`). Counts AWS calls with a
botocore `before-call` hook on every client and measures wall time; prints a markdown table.
"""

from __future__ import annotations

import contextlib
import os
import time
from decimal import Decimal
from pathlib import Path

from bench._aws import CallCounter, test_stage_environment

ROOT = Path(__file__).resolve().parent.parent
UNITS = int(os.environ.get("BENCH_UNITS", "10000"))


def _setup(units: int) -> tuple[str, list[str]]:
    from chalicelib.adapters.dynamo.billing import DynamoFeeSchedules, DynamoReadings
    from chalicelib.adapters.dynamo.billing_models import MeterReadingModel
    from chalicelib.adapters.dynamo.models import BuildingModel, CommunityModel, UnitModel
    from chalicelib.domain.billing import FeeSchedule, PropertyItem
    from devstack.provision import provision

    del DynamoReadings
    provision()
    cid = "c_bench"
    CommunityModel(cid, name="基准小区", address="上海", timezone="Asia/Shanghai",
                   created_at="2026-01-01T00:00:00Z").save()
    BuildingModel(cid, "b_1", name="1号楼", created_at="2026-01-01T00:00:00Z").save()
    ids = [f"un_{i:05d}" for i in range(units)]
    with UnitModel.batch_write() as batch:
        for i, uid in enumerate(ids):
            batch.save(UnitModel(uid, community_id=cid, building_id="b_1", building_unit=f"b_1#{i:05d}",
                                 unit_no=f"{i:05d}", floor=1, area_m2="89.56", layout="3室", created_at="t"))
    with MeterReadingModel.batch_write() as batch:
        for period, base in (("2026-09", 100), ("2026-10", 112), ("2026-11", 125)):
            for uid in ids:
                for kind in ("water", "electricity"):
                    batch.save(MeterReadingModel(f"{cid}#{period}", f"{uid}#{kind}", unit_id=uid, kind=kind,
                                                 period=period, reading=str(base), recorded_at="t",
                                                 previous=str(base - 12) if period != "2026-09" else None))
    DynamoFeeSchedules().put(FeeSchedule(cid, (PropertyItem("cleaning", "保洁费", 80),
                                               PropertyItem("security", "保安费", 55)), 450, 62, 15, "t"))
    return cid, ids


def _batched(cid: str, period: str) -> int:
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
    from chalicelib.domain.bills import BillingService

    queue: list[dict] = []
    service = BillingService(deps.communities(), DynamoUnitsForBilling(), DynamoFeeSchedules(), DynamoReadings(),
                             DynamoBills(), DynamoBillingRuns(), queue.append, encode_position, decode_position)
    run = DynamoBillingRuns().claim(RunProgress("run_bench", cid, period, "running", "t"))
    queue.append({"run_id": run.run_id, "attempt": 1, "cursor": ""})
    while queue:
        job = queue.pop(0)
        service.work_run(job["run_id"], job["attempt"], job["cursor"])
    return DynamoBillingRuns().get(run.run_id).bills_created


def _one_call_per_item(cid: str, ids: list[str], period: str) -> int:
    """The naive shape: per unit, one GetItem per meter reading, then one conditional PutItem per bill."""
    from chalicelib.adapters.dynamo.billing import DynamoBills, _reading
    from chalicelib.adapters.dynamo.billing_models import MeterReadingModel
    from chalicelib.domain.billing import FeeSchedule, PropertyItem, UnitToBill, bills_for_unit

    schedule = FeeSchedule(cid, (PropertyItem("cleaning", "保洁费", 80), PropertyItem("security", "保安费", 55)),
                           450, 62, 15)
    bills = DynamoBills()
    created = 0
    for uid in ids:
        readings = {}
        for kind in ("water", "electricity"):
            with contextlib.suppress(MeterReadingModel.DoesNotExist):
                readings[kind] = _reading(MeterReadingModel.get(f"{cid}#{period}", f"{uid}#{kind}"))
        for bill in bills_for_unit(UnitToBill(uid, cid, f"1号楼 {uid}", Decimal("89.56")), schedule, period,
                                   readings, "2026-12-15", "t"):
            bills.create(bill)
            created += 1
    return created


def run() -> str:
    test_stage_environment()
    from moto import mock_aws

    counter = CallCounter()
    counter.install()
    with mock_aws():
        from chalicelib import deps

        deps.reset()
        cid, ids = _setup(UNITS)
        counter.calls.clear()
        started = time.perf_counter()
        batched_bills = _batched(cid, "2026-10")
        batched_seconds, batched_calls = time.perf_counter() - started, counter.total()
        batched_detail = dict(counter.calls)
        counter.calls.clear()
        started = time.perf_counter()
        naive_bills = _one_call_per_item(cid, ids, "2026-11")
        naive_seconds, naive_calls = time.perf_counter() - started, counter.total()
        deps.reset()
    ratio = naive_calls / batched_calls if batched_calls else float("inf")
    lines = [
        f"### Billing run, {UNITS:,} units (moto, in process)",
        "",
        "| strategy | bills | AWS calls | wall time (s) |",
        "|---|---:|---:|---:|",
        f"| batched run (chunks of 1,000 units, BatchWriteItem) | {batched_bills:,} | {batched_calls:,} | "
        f"{batched_seconds:.1f} |",
        f"| one call per item (baseline) | {naive_bills:,} | {naive_calls:,} | {naive_seconds:.1f} |",
        "",
        f"Calls: **{ratio:.1f}× fewer** with the batched run. Batched calls by operation: "
        + ", ".join(f"{k} {v}" for k, v in sorted(batched_detail.items())),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
