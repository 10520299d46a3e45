"""Billing runs at scale: the staff list over the sharded index, and a run spread over Lambda invocations."""

from __future__ import annotations

import json
from collections import Counter

from tests.integration.test_bills_flow import billed_world, drain_jobs, pay, sandbox_callback


def _staff_pages(world, status: str | None = None, limit: int = 2) -> list[list[dict]]:
    query = f"/staff/bills?community_id={world.community_id}&period=2026-10&limit={limit}"
    if status:
        query += f"&status={status}"
    pages, cursor = [], None
    for _ in range(50):
        reply = world.api.get(query + (f"&cursor={cursor}" if cursor else ""), token=world.staff.token)
        assert reply.status == 200, reply.body
        pages.append(reply.body["items"])
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the list never ended")


def test_staff_bills_page_across_the_index_shards_each_bill_once_with_the_status_filter(world):
    billed_world(world)
    every = [b for page in _staff_pages(world) for b in page]
    assert len(every) == 9 and len({b["bill_id"] for b in every}) == 9
    assert all(len(page) <= 2 for page in _staff_pages(world))
    owner = world.owner()
    mine = [b for b in every if b["unit_id"] == world.unit_ids[0]]
    payment = pay(world.api, owner, [b["bill_id"] for b in mine]).body
    assert sandbox_callback(world.api, payment["payment_id"], payment["amount_cents"]).status == 200
    drain_jobs()
    paid = [b for page in _staff_pages(world, "paid") for b in page]
    unpaid = [b for page in _staff_pages(world, "unpaid", limit=4) for b in page]
    assert sorted(b["bill_id"] for b in paid) == sorted(b["bill_id"] for b in mine)
    assert len(unpaid) == 6 and {b["status"] for b in unpaid} == {"unpaid"}
    assert not {b["bill_id"] for b in paid} & {b["bill_id"] for b in unpaid}


def test_a_run_spreads_its_bills_over_several_index_partitions(world):
    from chalicelib.adapters.dynamo.billing import list_partitions
    from chalicelib.adapters.dynamo.billing_models import BillModel

    billed_world(world)
    per_partition = {key: sum(1 for _ in BillModel.by_community_period.query(key))
                     for key in list_partitions(world.community_id, "2026-10")}
    assert sum(per_partition.values()) == 9
    # 9 bills over 8 shards: never all on one key (the chance of that is 8 / 8**9)
    assert max(per_partition.values()) < 9


def test_bills_written_before_the_index_was_sharded_are_still_listed(world):
    from chalicelib.adapters.dynamo.billing import bill_model
    from chalicelib.adapters.dynamo.billing_models import BillModel

    billed_world(world)
    old = next(m for m in BillModel.by_unit.query(world.unit_ids[0]))
    legacy = bill_model(_bill(old))
    legacy.bill_id, legacy.community_period = "bl_before_sharding", f"{world.community_id}#2026-10"
    legacy.status_bill = f"unpaid#{legacy.unit_label}#bl_before_sharding"
    legacy.save()
    listed = [b["bill_id"] for page in _staff_pages(world, "unpaid") for b in page]
    assert "bl_before_sharding" in listed and len(listed) == 10


def _bill(model):
    from chalicelib.adapters.dynamo.billing import bill_from_model

    return bill_from_model(model)


class _Context:
    """A Lambda context whose remaining time the test sets."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _jobs_messages() -> list[dict]:
    from chalicelib import deps
    from chalicelib.resources import JOBS_QUEUE

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name(JOBS_QUEUE))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_a_run_invoked_without_time_left_hands_itself_on_and_finishes_in_the_next_invocation(world):
    from chalice.app import SQSEvent

    from chalicelib.events import jobs
    from tests.integration.test_bills_flow import SCHEDULE

    api = world.api
    assert api.put(f"/staff/communities/{world.community_id}/fee-schedule", SCHEDULE, token=world.admin).status == 200
    drain_jobs()
    run = api.post("/staff/billing-runs", {"community_id": world.community_id, "period": "2026-10"},
                   token=world.staff.token).body
    queued = _jobs_messages()
    assert len(queued) == 1

    def invoke(messages, remaining_ms: int):
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"}
                             for m in messages]}
        return jobs.dispatch(list(SQSEvent(event, _Context(remaining_ms))))

    # 3 s left of the 30 s: half of it is less than a chunk is assumed to take, so none starts
    assert invoke(queued, 3_000) == {"batchItemFailures": []}
    progress = api.get(f"/staff/billing-runs/{run['run_id']}", token=world.staff.token).body
    assert (progress["status"], progress["units_done"], progress["bills_created"]) == ("running", 0, 0)
    handed_on = _jobs_messages()
    assert [json.loads(m["Body"])["payload"]["cursor"] for m in handed_on] == [""]
    assert invoke(handed_on, 29_000) == {"batchItemFailures": []}
    done = api.get(f"/staff/billing-runs/{run['run_id']}", token=world.staff.token).body
    assert (done["status"], done["units_done"], done["bills_created"]) == ("done", 3, 3)
    assert _jobs_messages() == []
    bills = api.get(f"/staff/bills?community_id={world.community_id}&period=2026-10&limit=100",
                    token=world.staff.token).body["items"]
    assert Counter(b["unit_id"] for b in bills) == Counter({u: 1 for u in world.unit_ids})
