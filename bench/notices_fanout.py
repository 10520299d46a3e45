"""Notices bench: DynamoDB calls of an owner's feed, and the urgent-SMS fan-out as a chain of bounded invocations.

Self-contained: runs the app's own code under moto's `mock_aws` and counts every AWS API call at botocore's
`_make_api_call` (boto3 and PynamoDB both go through it). The fan-out is compared, in the same run, with the
naive design (the request handler publishing one SNS message per owner). Sizes: `bench._common.sized` (quick:
1,000 owners; full: 1,000, then the fan-out chain alone for 10,000; 100,000 under moto takes hours, and the
per-invocation bounds do not grow with the owners).

The fan-out runs as the jobs consumer would run it: the first job, then each continuation in turn, every
invocation with the default budget of an invocation without a Lambda context (wall clock); a continuation's
delay is skipped by moving the app's clock on, as if the wait had happened.

    python -m bench.notices_fanout      (or: python bench/notices_fanout.py)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import sized

ROOT = Path(__file__).resolve().parent.parent
SIZES: tuple[int, ...] = sized((1_000,), (1_000, 10_000))
OWNERS = SIZES[0]
FEED_NOTICES = 60


@dataclass
class Invocation:
    wall: float
    cpu: float
    pages: int
    queued: int
    calls: int
    continue_in: int


class SimulatedClock:
    """The app's UTC clock, moved on by each continuation's delay instead of waiting for it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Continuations:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.sent.append((payload, delay_seconds))


def _fan_out_chain(notice_id: str) -> tuple[list[Invocation], Counter[str]]:
    """Run the notice's fan-out job and every continuation; per-invocation figures and the calls of all."""
    from chalicelib import deps
    from chalicelib.events.jobs import budget

    clock, queue = SimulatedClock(), Continuations()
    invocations: list[Invocation] = []
    total: Counter[str] = Counter()
    with deps.override(jobs=lambda: queue, utc_clock=lambda: clock):
        deps.notice_sms.cache_clear()  # built now, with this queue and clock
        service = deps.notice_sms()
        payload: dict[str, Any] | None = {"notice_id": notice_id}
        while payload is not None:
            # what the jobs consumer's handler (`events.notices.fan_out_notice_sms`) does, keeping the result
            wall, cpu = time.perf_counter(), time.process_time()
            with counting() as calls:
                result = service.fan_out(payload["notice_id"], payload.get("step"), budget())
            invocations.append(Invocation(time.perf_counter() - wall, time.process_time() - cpu, result.pages,
                                          result.queued, sum(calls.values()), result.continue_in))
            total.update(calls)
            payload = None
            if queue.sent:
                payload, delay = queue.sent.pop(0)
                clock.offset += timedelta(seconds=delay)
    return invocations, total


def _chain_row(owners: int, invocations: list[Invocation]) -> str:
    return (f"| {owners:,} | {len(invocations)} | {max(i.wall for i in invocations):.1f} s | "
            f"{max(i.cpu for i in invocations):.1f} s | {max(i.pages for i in invocations)} | "
            f"{max(i.queued for i in invocations):,} | {max(i.calls for i in invocations):,} | "
            f"{sum(i.queued for i in invocations):,} | {sum(i.continue_in for i in invocations):,} s |")


CHAIN_HEADER = ("| owners | invocations | max invocation wall | max invocation CPU | max pages / invocation | "
                "max messages / invocation | max AWS calls / invocation | messages in all | "
                "continuation delays in all |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


@contextmanager
def counting():
    """Count AWS API calls as `service:Operation` while the block runs."""
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def _environment() -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from devstack import environment

    environment.apply("test", None)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # 10,000 "sms sent" lines would drown the report


def _community(owners: int) -> tuple[str, list[str], list[str]]:
    """A community with 10 buildings, `owners` units and one owner per unit (written in batches; not counted)."""
    from chalicelib.adapters.dynamo.models import AccountModel, BuildingModel, UnitModel, UnitSummary
    from chalicelib.domain.ids import new_id

    cid, now = new_id("c"), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    buildings = [new_id("b") for _ in range(10)]
    owner_ids = []
    for building in buildings:
        BuildingModel(cid, building, name="楼", created_at=now).save()
    with UnitModel.batch_write() as units, AccountModel.batch_write() as accounts:
        for i in range(owners):
            building, uid, oid = buildings[i % 10], new_id("un"), new_id("u")
            owner_ids.append(oid)
            units.save(UnitModel(uid, community_id=cid, building_id=building, building_unit=f"{building}#{i:05d}",
                                 unit_no=f"{i:05d}", floor=1 + i % 30, area_m2="89.56", layout="3室2厅1卫",
                                 owner_ids={oid}, created_at=now))
            prefs = {"sms_notices": False} if i % 20 == 0 else {}
            accounts.save(AccountModel(
                oid, account=f"o{i}", name="业主", phone=f"+86139{i:08d}", role="owner", password_hash="x",
                units=[UnitSummary(unit_id=uid, community_id=cid, community_name="小区", building_id=building,
                                   building_name="楼", unit_no=f"{i:05d}", floor=1, area_m2="89.56", layout="x")],
                tags={"pet_owner"} if i % 7 == 0 else None, notification_prefs=prefs, created_at=now))
    return cid, buildings, owner_ids


def _staff(cid: str) -> Any:
    from chalicelib.domain.model import Principal

    return Principal("u_bench_staff", "staff", "s", frozenset({cid}), frozenset(), False)


def _owner_principal(user_id: str, community_id: str) -> Any:
    from chalicelib.domain.model import Principal

    # as the session has it: an owner's communities are those of their units
    return Principal(user_id, "owner", "s", frozenset({community_id}), frozenset(), False)


def _drain(queue_name: str) -> list[str]:
    from chalicelib import deps

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name(queue_name))["QueueUrl"]
    bodies: list[str] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])
    return bodies


def _table(calls: Counter[str]) -> str:
    rows = [f"| `{name}` | {n} |" for name, n in sorted(calls.items())]
    return "\n".join([*rows, f"| **total** | **{sum(calls.values())}** |"])


def _ops(calls: Counter[str]) -> str:
    return ", ".join(f"{name.split(':')[1]} {n}" for name, n in sorted(calls.items()))


def _measure() -> str:
    from chalicelib import deps
    from chalicelib.domain.notices import NewNotice, Reader
    from devstack.provision import provision

    deps.reset()
    provision()
    started = time.monotonic()
    cid, buildings, owner_ids = _community(OWNERS)
    setup_s = time.monotonic() - started
    notices, staff = deps.notice_service(), _staff(cid)

    # -- an owner's feed: 60 notices spread over the community, buildings and a tag ---------------
    reader_id = owner_ids[0]  # building 0, tag pet_owner
    for i in range(FEED_NOTICES):
        target = [{}, {"building_ids": (buildings[0],)}, {"building_ids": (buildings[1],)},
                  {"tags": ("pet_owner",)}][i % 4]
        notices.publish(staff, NewNotice(cid, f"通知{i}", "内容" * 50, "general", "normal", **target))
    with counting() as publish_calls:
        notices.publish(staff, NewNotice(cid, "one more", "x", "news", "normal"))
    owner = _owner_principal(reader_id, cid)
    partitions = len(Reader.of(deps.accounts().get(reader_id)).feed_partitions())
    with counting() as feed_calls:
        _, cursor = notices.feed(owner, None, 20, None)
    with counting() as next_calls:
        notices.feed(owner, None, 20, cursor)
    with counting() as home_calls:
        notices.unread(reader_id, 3)
    _drain("jobs")

    # -- urgent SMS to the whole community ---------------------------------------------------------
    urgent = notices.publish(staff, NewNotice(cid, "明日停水", "正文", "outage", "urgent", send_sms=True))
    with counting() as request_calls:
        notices.publish(staff, NewNotice(cid, "同类请求", "正文", "outage", "urgent", send_sms=True))
    _drain("jobs")
    # Keep what the job queues (moto's ReceiveMessage is slow on thousands of messages); SQS still gets every batch.
    from chalicelib.adapters.notice_queue import SqsSmsQueue
    from chalicelib.events import jobs
    from chalicelib.events import notices as notice_events

    queued: list[str] = []
    original_send = SqsSmsQueue.send

    def recording(self: Any, messages: list[Any]) -> int:
        queued.extend(json.dumps(m.payload(), ensure_ascii=False) for m in messages)
        return original_send(self, messages)

    SqsSmsQueue.send = recording  # type: ignore[method-assign]
    started = time.monotonic()
    chain, fan_calls = _fan_out_chain(urgent.notice_id)
    fan_s = time.monotonic() - started
    bodies = list(queued)

    class Record:
        def __init__(self, i: int, body: str):
            self.body, self._id = body, f"m{i}"

        def to_dict(self) -> dict[str, Any]:
            # the shape of a Lambda SQS record, as the consumer's batch processor reads it
            return {"messageId": self._id, "receiptHandle": self._id, "body": self.body, "attributes": {},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notice-sms", "awsRegion": "us-east-1"}

    started = time.monotonic()
    with counting() as deliver_calls:
        for start in range(0, len(bodies), 10):
            notice_events.deliver([Record(i, b) for i, b in enumerate(bodies[start:start + 10], start)])
    deliver_s = time.monotonic() - started
    with counting() as retry_calls:
        queued.clear()
        jobs.run("notice-sms", {"notice_id": urgent.notice_id})
        again = list(queued)
        for start in range(0, len(again), 10):
            notice_events.deliver([Record(i, b) for i, b in enumerate(again[start:start + 10], start)])

    # -- the naive design, same run: page the audience and publish to SNS once per owner -----------
    from chalicelib.adapters.dynamo.notices import DynamoOwnerDirectory

    directory, sms = DynamoOwnerDirectory(), deps.sms()
    started = time.monotonic()
    with counting() as naive_calls:
        position = None
        while True:
            readers, position = directory.owners_page(cid, position, 100)
            for reader in readers:
                if reader.sms_notices:
                    sms.send(reader.phone, "【物业通知】明日停水，详情请查看业主App。")
            if position is None:
                break
    naive_s = time.monotonic() - started

    sent = sum(1 for _ in bodies)
    opted_out = sum(1 for i in range(OWNERS) if i % 20 == 0)
    batch_calls = fan_calls["sqs:SendMessageBatch"]
    return f"""# Notices bench (moto, {OWNERS} owners)

Set-up (not counted): {OWNERS} units in 10 buildings, one owner each, every 7th tagged `pet_owner`,
every 20th opted out of notice SMS ({setup_s:.1f} s). Every AWS API call is counted at botocore.

## An owner's feed (query-time merge)

{FEED_NOTICES} notices: a quarter to the community, a quarter to the owner's building, a quarter to another
building, a quarter to the owner's tag. The owner has {partitions} feed partitions (community, building, tag).
The session `GetItem` of the middleware is not included.

| request | DynamoDB calls |
|---|---|
| `GET /notices` first page (20) | {sum(feed_calls.values())} ({_ops(feed_calls)}) |
| `GET /notices` next page | {sum(next_calls.values())} |
| `NoticeService.unread(n=3)` (for `/home`) | {sum(home_calls.values())} |
| `POST /staff/notices` (whole community) | {sum(publish_calls.values())} ({_ops(publish_calls)}) |

Fan-out on write would instead write one feed item per owner: {OWNERS} items = {OWNERS // 25} `BatchWriteItem`
calls per community-wide notice (and as many deletes to withdraw it), for a feed read of 1 `Query` + 1 `BatchGetItem`.

## Urgent SMS to {OWNERS} owners

The request (`POST /staff/notices`, urgent + send_sms) makes {sum(request_calls.values())} AWS calls
({', '.join(f'{k} {v}' for k, v in sorted(request_calls.items()))}) and returns; the rest is asynchronous.

Fan-out ({fan_s:.1f} s in moto, {len(chain)} invocations): {sent} messages queued ({opted_out} opted out
skipped), in {batch_calls} `SendMessageBatch` calls; message n is due n / {deps.get_settings().sms_rate_per_second} s
after the start (`SMS_RATE_PER_SECOND`, spread with `DelaySeconds` across invocations), so the last one
is sent {(sent - 1) // deps.get_settings().sms_rate_per_second} s after the first.

{CHAIN_HEADER}
{_chain_row(OWNERS, chain)}

| fan-out, all invocations | calls |
|---|---|
{_table(fan_calls)}

| delivery of every queued message ({deliver_s:.1f} s) | calls |
|---|---|
{_table(deliver_calls)}

| a retried job + redelivery of everything (no text is sent twice) | calls |
|---|---|
{_table(retry_calls)}

Naive design, same run: the handler pages the audience and publishes one SNS message per owner
({naive_s:.1f} s in moto, inside the request):

| one publish per owner | calls |
|---|---|
{_table(naive_calls)}

The request path goes from {sum(naive_calls.values())} AWS calls (minutes of API Gateway time: over its 29 s
limit at any realistic SNS latency) to {sum(request_calls.values())}; SNS still receives one publish per owner,
but from workers, rate-limited, retried per owner and deduplicated.
"""


def _chain_only(owners: int) -> str:
    """The fan-out chain alone for a community of `owners` (a fresh emulator)."""
    from chalicelib import deps
    from chalicelib.domain.notices import NewNotice
    from devstack.provision import provision

    deps.reset()
    provision()
    cid, _, _ = _community(owners)
    urgent = deps.notice_service().publish(_staff(cid), NewNotice(cid, "明日停水", "正文", "outage", "urgent",
                                                                   send_sms=True))
    chain, _ = _fan_out_chain(urgent.notice_id)
    return _chain_row(owners, chain)


def run() -> str:
    """Run the bench under moto and return the report as markdown."""
    _environment()
    from moto import mock_aws

    with mock_aws():
        report = _measure()
    extra = []
    for owners in SIZES[1:]:
        with mock_aws():
            extra.append(_chain_only(owners))
    if extra:
        report += "\nThe fan-out chain alone, larger communities:\n\n" + CHAIN_HEADER + "\n" + "\n".join(extra) + "\n"
    from chalicelib.domain.jobs import DEFAULT_BUDGET_SECONDS
    from chalicelib.domain.notice_sms import MAX_LEAD

    report += (f"\nEvery invocation stops when its budget ({DEFAULT_BUDGET_SECONDS:.0f} s, a third of the 30 s "
               f"timeout) is spent or when the queue is {MAX_LEAD} s ahead of the texts, whichever comes first, "
               "and hands the rest to a continuation: its time is bounded by the budget plus one page of 100 "
               "units, whatever the size of the audience.\n")
    return report


if __name__ == "__main__":
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # metrics flushes (EMF) print to stdout; keep it for the report
        report = run()
    print(report)
