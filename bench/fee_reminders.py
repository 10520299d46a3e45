"""Benchmark: the daily fee reminders under moto, as a chain of bounded invocations, against one publish per bill.

Run from the repo root: `python -m bench fee_reminders` (or `make bench`). Each owner has one unit with two
open bills (one overdue, one due in 2 days, in different shards of the unpaid index); 10% have opted out of
reminder texts. Sizes: `bench._common.sized` (quick: 1,000 owners; full: 1,000 and 10,000; 100,000 is projected from the
per-invocation bounds, which do not grow with the owners: a chain of 100,000 under moto takes hours).

The run starts like the schedule does, then every continuation it enqueues is run as the jobs consumer would,
one after the other, each with the budget of an invocation without a Lambda context
(`domain.jobs.DEFAULT_BUDGET_SECONDS`, wall clock). Per invocation it records wall time, CPU time (this
process: the app and the in-process emulator), index pages, texts enqueued and AWS calls. AWS calls are
counted with a botocore `before-call` hook on every client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._aws import CallCounter, test_stage_environment
from bench._common import sized

ROOT = Path(__file__).resolve().parent.parent
SIZES: tuple[int, ...] = sized((1_000,), (1_000, 10_000))
PROJECTED_OWNERS = 100_000


@dataclass
class Invocation:
    wall: float
    cpu: float
    pages: int
    enqueued: int
    calls: int


@dataclass
class Chain:
    owners: int
    seed_seconds: float
    invocations: list[Invocation] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)


class Continuations:
    """The jobs queue as the chain sees it: continuations are kept and run in order."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.sent.append(payload)


def _seed(owners: int, today: str, soon: str) -> None:
    from chalicelib.adapters.dynamo.billing import summary_entry
    from chalicelib.adapters.dynamo.billing_models import BillModel, OwnerBillSummaryModel
    from chalicelib.adapters.dynamo.models import AccountModel, UnitModel, UnitSummary
    from chalicelib.domain.billing import unpaid_shard

    with UnitModel.batch_write() as units, AccountModel.batch_write() as accounts, BillModel.batch_write() as bills, \
            OwnerBillSummaryModel.batch_write() as summaries:
        for i in range(owners):
            uid, user = f"un_{i:06d}", f"u_{i:06d}"
            units.save(UnitModel(uid, community_id="c_bench", building_id="b_1", building_unit=f"b_1#{i:06d}",
                                 unit_no=f"{i:06d}", floor=1, area_m2="89.56", layout="3室", created_at="t",
                                 owner_ids={user}))
            accounts.save(AccountModel(
                user, account=f"owner{i}", name="业主", phone=f"+86139{i:08d}", role="owner", password_hash="x",
                created_at="t", notification_prefs={"sms_reminders": i % 10 != 0},
                units=[UnitSummary(unit_id=uid, community_id="c_bench", community_name="小区", building_id="b_1",
                                   building_name="1号楼", unit_no=f"{i:06d}", floor=1, area_m2="89.56",
                                   layout="3室")]))
            owed = set()
            for kind, due, cents in (("water", today, 4_500), ("electricity", soon, 6_200)):
                bill_id = f"bill_{kind}_{i:06d}"
                owed.add(summary_entry(bill_id, due, cents))
                bills.save(BillModel(bill_id, unit_id=uid, community_id="c_bench", unit_label=f"1号楼 {i:06d}",
                                     type=kind, period="2026-10", items=[], total_cents=cents, due_date=due,
                                     status="unpaid", created_at="t", period_bill=f"2026-10#{bill_id}",
                                     community_period="c_bench#2026-10", owner_ids={user},
                                     status_bill=f"unpaid#{i:06d}#{bill_id}", unpaid_shard=unpaid_shard(bill_id),
                                     due_bill=f"{due}#{bill_id}"))
            summaries.save(OwnerBillSummaryModel(user, open_bills=owed))


def _baseline() -> int:
    """The naive job: for every open bill, look up its unit and owner, and publish one SMS per bill."""
    from chalicelib import deps
    from chalicelib.adapters.dynamo.billing_models import BillModel
    from chalicelib.adapters.dynamo.models import AccountModel, UnitModel

    sns = deps.aws_client("sns")
    published = 0
    for shard in range(16):
        for bill in BillModel.unpaid_by_due.query(str(shard)):
            unit = UnitModel.get(bill.unit_id)
            for owner_id in unit.owner_ids or ():
                account = AccountModel.get(owner_id)
                sns.publish(PhoneNumber=account.phone, Message=f"【物业】您有一笔{bill.type}费用待缴。")
                published += 1
    return published


def _timed(calls: CallCounter, work: Any) -> tuple[Any, Invocation]:
    calls.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = work()
    spent = Invocation(time.perf_counter() - wall, time.process_time() - cpu, summary.pages,
                       summary.enqueued + summary.resumed, calls.total())
    return summary, spent


def _chain(owners: int, calls: CallCounter) -> Chain:
    """Seed `owners` in a fresh emulator and run the day's reminders to the end, invocation by invocation."""
    from moto import mock_aws

    with mock_aws():
        from chalicelib import deps
        from chalicelib.domain.jobs import Budget
        from chalicelib.domain.reminders import business_today
        from devstack.provision import provision

        deps.reset()
        provision()
        today = business_today(datetime.now(UTC))
        started = time.perf_counter()
        _seed(owners, (today - timedelta(days=1)).isoformat(), (today + timedelta(days=2)).isoformat())
        chain = Chain(owners, time.perf_counter() - started)
        service, queue = deps.fee_reminders(), Continuations()
        totals: dict[str, int] = {}
        operations: dict[str, int] = {}

        def add(summary: Any) -> None:
            for key, value in summary.as_dict().items():
                if isinstance(value, int) and not isinstance(value, bool) and key != "step":
                    totals[key] = totals.get(key, 0) + value
            for name, n in calls.calls.items():
                operations[name] = operations.get(name, 0) + n

        summary, spent = _timed(calls, lambda: service.run(budget=Budget.for_invocation(None), jobs=queue))
        chain.invocations.append(spent)
        add(summary)
        while queue.sent:
            payload = queue.sent.pop(0)
            summary, spent = _timed(calls, lambda p=payload: service.resume(
                p["day"], p["step"], budget=Budget.for_invocation(None), jobs=queue))
            chain.invocations.append(spent)
            add(summary)
        chain.summary, chain.operations = totals, operations
        if owners == SIZES[0]:
            calls.reset()
            started = time.perf_counter()
            published = _baseline()
            chain.summary["baseline_texts"] = published
            chain.summary["baseline_calls"] = calls.total()
            chain.summary["baseline_ms"] = int((time.perf_counter() - started) * 1000)
    return chain


def _drain_line(owners: int) -> str:
    from chalicelib.settings import get_settings, sms_consumer_concurrency

    rate = get_settings().sms_rate_per_second
    concurrency = sms_consumer_concurrency()
    per_second = concurrency * 10  # each invocation takes a batch of 10 and sends it in about a second
    seconds = owners / per_second
    return (f"- Sending is the `sms-outbox` consumer's work, at the shipped settings: `SMS_RATE_PER_SECOND` = "
            f"{rate}, consumer `maximum_concurrency` = `max(2, ceil(rate / 10))` = {concurrency}, batches of 10 "
            f"sent in about a second each: **{per_second} texts/s**, so {owners:,} texts drain in "
            f"**{seconds:,.0f} s ≈ {seconds / 60:.0f} minutes**. `SMS_RATE_PER_SECOND` must not exceed the SMS "
            "rate SNS allows the account: a faster drain needs a higher account quota first, then a higher "
            "setting.")


def run() -> str:
    test_stage_environment()
    from chalicelib.domain.jobs import DEFAULT_BUDGET_SECONDS
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    calls = CallCounter()
    calls.install()
    chains = [_chain(owners, calls) for owners in SIZES]
    rows = []
    for chain in chains:
        inv = chain.invocations
        rows.append(f"| {chain.owners:,} | {len(inv)} | {max(i.wall for i in inv):.1f} s | "
                    f"{max(i.cpu for i in inv):.1f} s | {max(i.pages for i in inv)} | "
                    f"{max(i.enqueued for i in inv):,} | {max(i.calls for i in inv):,} | "
                    f"{chain.summary.get('enqueued', 0):,} | {sum(i.wall for i in inv):.0f} s |")
    first = chains[0]
    ops = ", ".join(f"{name} {n:,}" for name, n in sorted(first.operations.items(), key=lambda kv: -kv[1]))
    baseline = first.summary
    return "\n".join([
        "## Fee reminders",
        "",
        f"Each owner: one unit, two open bills (one overdue, one due in 2 days; they land in different shards "
        f"of `unpaid-by-due`); every 10th owner has opted out. Under moto in one process; the run starts as the "
        f"schedule does and every continuation runs in turn, each invocation with the default budget of "
        f"{DEFAULT_BUDGET_SECONDS:.0f} s (a third of the functions' 30 s timeout) and one page of 100 bills per "
        f"step. Seeding is not counted ({', '.join(f'{c.seed_seconds:.0f} s' for c in chains)}).",
        "",
        "| owners | invocations | max invocation wall | max invocation CPU | max pages / invocation | "
        "max texts queued / invocation | max AWS calls / invocation | texts queued in all | wall in all |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "An invocation starts no page that the longest page so far says would end past its budget, then "
        "continues on the jobs queue: its work is bounded (pages, texts, calls) whatever the number of owners, "
        "and only the number of invocations grows. Wall times are moto's on a shared machine, where one page "
        "(about 200 calls) can take longer than the whole budget; CPU time includes the in-process emulator.",
        "",
        f"- {first.owners:,} owners: {first.summary.get('enqueued', 0):,} texts queued, one per owner "
        f"({first.summary.get('skipped_opted_out', 0):,} opt-out skips, counted on each page an owner is met, "
        f"{first.summary.get('seen_earlier', 0):,} owners met again on their second bill's page and recognised). "
        f"AWS calls: {ops}.",
        f"- One publish per bill (baseline, {first.owners:,} owners, one process): "
        f"{baseline.get('baseline_texts', 0):,} texts (one per bill), {baseline.get('baseline_calls', 0):,} AWS "
        f"calls, {baseline.get('baseline_ms', 0) / 1000:.1f} s.",
        _drain_line(PROJECTED_OWNERS),
    ])


if __name__ == "__main__":
    print(run())
