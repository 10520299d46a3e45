"""A billing run cut off by a DynamoDB failure finishes on retry with each bill once and the true count."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.test_bills_flow import SCHEDULE

UNITS = 10  # 3 bills each: 30 bills, two bill transactions (25 + 5) with `small_transactions`


def _ten_units_with_readings(world) -> list[str]:
    """The units, their readings and the fee schedule; the jobs queue left empty, so the calls a test's hook
    counts are the billing run's own (not jobs that earlier tests in this process left queued)."""
    api = world.api
    units = list(world.unit_ids)
    for n in range(len(units), UNITS):
        reply = api.post("/staff/units", {"community_id": world.community_id, "building_id": world.building_ids[1],
                                          "unit_no": f"3{n:02d}", "floor": 3, "area_m2": "100.5", "layout": "两室"},
                         token=world.admin)
        assert reply.status == 201, reply.body
        units.append(reply.body["unit_id"])
    assert api.put(f"/staff/communities/{world.community_id}/fee-schedule", SCHEDULE, token=world.admin).status == 200
    for unit in units:
        for kind in ("water", "electricity"):
            for period, reading in (("2026-09", "100"), ("2026-10", "110")):
                reply = api.post("/staff/meter-readings", {"unit_id": unit, "kind": kind, "period": period,
                                                           "reading": reading}, token=world.staff.token)
                assert reply.status == 201, reply.body
    _deliver_jobs()
    return units


def _deliver_jobs(before_redelivery=None, max_receives: int = 5) -> None:
    """Run the jobs queue as SQS and its consumer would: a message whose handler raised is delivered again
    (after its visibility timeout, by when a worker's 300 s lease has lapsed), up to `max_receives` times."""
    from chalicelib import deps
    from chalicelib.events import jobs
    from chalicelib.resources import JOBS_QUEUE

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name(JOBS_QUEUE))["QueueUrl"]
    receives: Counter[str] = Counter()
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for m in messages:
            body = json.loads(m["Body"])
            receives[m["MessageId"]] += 1
            try:
                jobs.run(body["kind"], body["payload"])
            except Exception:  # the consumer reports it; SQS delivers it again
                if receives[m["MessageId"]] < max_receives:
                    if before_redelivery is not None:
                        before_redelivery(body["payload"])
                    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                  VisibilityTimeout=0)
                    continue
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _lease_lapsed(payload) -> None:
    from chalicelib.adapters.dynamo.billing_models import BillingRunModel

    BillingRunModel(payload["run_id"]).update(actions=[BillingRunModel.lease_until.set(1)])


class _FailOnce:
    """A botocore hook that fails one DynamoDB call, chosen by `pick(operation, params, seen)`; `seen` counts
    the calls by operation, and the transactions that write bills as "bills"."""

    def __init__(self, pick):
        self.pick, self.seen, self.failed = pick, Counter(), 0

    def __call__(self, model, params, **_):
        self.seen[model.name] += 1
        if model.name == "TransactWriteItems" and '-bills"' in str(params.get("body", "")):
            self.seen["bills"] += 1
        if not self.failed and self.pick(model.name, params, self.seen):
            self.failed += 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, model.name)


@pytest.fixture
def small_transactions(monkeypatch):
    """Bill transactions of at most 25 items (bills and their owners' copies), so the run's 30 bills take
    several (a failure can fall between them)."""
    from chalicelib.adapters.dynamo import billing

    monkeypatch.setattr(billing, "RUN_TRANSACTION_ITEMS", 25)


@pytest.fixture
def inject():
    """Install a `_FailOnce` on the DynamoDB client the billing run writes through (one per process, shared by
    every table and the transactions; collected from each of them so the hook holds whatever they use)."""
    from chalicelib.adapters.dynamo.billing_models import BillingRunModel, BillModel
    from chalicelib.adapters.dynamo.repositories import connection

    clients = {id(c): c for c in [*(m._get_connection().connection.client for m in (BillModel, BillingRunModel)),
                                  connection().client]}
    installed = []

    def install(pick) -> _FailOnce:
        hook = _FailOnce(pick)
        for client in clients.values():
            client.meta.events.register("before-call.dynamodb.*", hook, unique_id=f"fail-once-{len(installed)}")
        installed.append(hook)
        return hook

    yield install
    for n in range(len(installed)):
        for client in clients.values():
            client.meta.events.unregister("before-call.dynamodb.*", unique_id=f"fail-once-{n}")


def _start(world):
    reply = world.api.post("/staff/billing-runs", {"community_id": world.community_id, "period": "2026-10"},
                           token=world.staff.token)
    assert reply.status == 202, reply.body
    return reply.body["run_id"]


def _assert_each_bill_once(world, units: list[str]) -> None:
    listed = world.api.get(f"/staff/bills?community_id={world.community_id}&period=2026-10&limit=100",
                           token=world.staff.token).body
    assert listed["next_cursor"] is None
    kinds = Counter((b["unit_id"], b["type"]) for b in listed["items"])
    assert kinds == Counter({(u, t): 1 for u in units for t in ("property", "water", "electricity")})


def test_billing_run_second_batch_failing_completes_on_restart_with_the_true_count(world, inject,
                                                                                    small_transactions):
    units = _ten_units_with_readings(world)
    hook = inject(lambda op, params, seen: op == "TransactWriteItems" and seen["bills"] == 2)
    run_id = _start(world)
    _deliver_jobs(_lease_lapsed)
    assert hook.failed == 1
    failed = world.api.get(f"/staff/billing-runs/{run_id}", token=world.staff.token).body
    assert failed["status"] == "failed"
    # the staff start it again, as the run's error says
    assert _start(world) == run_id
    _deliver_jobs(_lease_lapsed)
    run = world.api.get(f"/staff/billing-runs/{run_id}", token=world.staff.token).body
    assert run["status"] == "done" and run["bills_created"] == 30 and run["units_done"] == UNITS
    _assert_each_bill_once(world, units)


def test_billing_run_progress_write_failing_after_the_bills_completes_on_redelivery(world, inject,
                                                                                      small_transactions):
    units = _ten_units_with_readings(world)

    def progress_after_bills(op, params, seen):
        # `params` is the serialised request: the table name is in its JSON body
        return op == "UpdateItem" and "billing-runs" in str(params.get("body", "")) and seen["bills"] >= 2

    hook = inject(progress_after_bills)
    run_id = _start(world)
    _deliver_jobs(_lease_lapsed)
    assert hook.failed == 1
    run = world.api.get(f"/staff/billing-runs/{run_id}", token=world.staff.token).body
    assert run["status"] == "done" and run["bills_created"] == 30 and run["units_done"] == UNITS
    _assert_each_bill_once(world, units)
    # and a later re-run of the period still reports what exists, creating nothing
    assert _start(world) == run_id
    _deliver_jobs(_lease_lapsed)
    again = world.api.get(f"/staff/billing-runs/{run_id}", token=world.staff.token).body
    assert again["status"] == "done" and again["bills_created"] == 30
    _assert_each_bill_once(world, units)
