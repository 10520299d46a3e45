"""The urgent-notice SMS fan-out across invocations under the emulator: bounded steps, continuations on the
jobs queue, duplicates and a cut-off invocation, and still one text per owner."""

from __future__ import annotations

import pytest

from chalicelib import deps
from tests.integration.helpers import sms_inbox, take_jobs


def _sms_bodies() -> list[str]:
    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name("notice-sms"))["QueueUrl"]
    bodies: list[str] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])
    return bodies


def _deliver(api, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        event = api.client.events.generate_sqs_event(bodies[start:start + 10], queue_name="notice-sms")
        assert api.client.lambda_.invoke("handle_notice_sms", event).payload == {"batchItemFailures": []}


def test_a_fan_out_over_several_invocations_texts_each_owner_once(world, api, monkeypatch):
    from chalicelib.domain import notice_sms
    from chalicelib.domain.jobs import Budget
    from chalicelib.events import jobs

    monkeypatch.setattr(notice_sms, "UNITS_PER_PAGE", 1)  # one unit a step
    monkeypatch.setattr(jobs, "budget", lambda: Budget(None, max_steps=1))  # one step an invocation
    owners = [world.owner([unit_id]) for unit_id in world.unit_ids]
    take_jobs("notice-sms")
    _sms_bodies()
    reply = world.api.post("/staff/notices", {
        "community_id": world.community_id, "title": "紧急停电", "body": "今晚停电。", "category": "outage",
        "urgency": "urgent", "send_sms": True}, token=world.staff.token)
    assert reply.status == 201, reply.body
    notice_id = reply.body["notice_id"]
    invocations = 0
    cut_off = False
    while messages := [m for m in take_jobs(notice_id)]:
        for message in messages:
            if not cut_off and message["payload"].get("step") == 1:
                cut_off = True  # the invocation of step 1 dies after queueing; SQS redelivers the message
                with monkeypatch.context() as patch:
                    patch.setattr("chalicelib.adapters.dynamo.jobs.DynamoJobProgress.advance",
                                  lambda *a, **k: (_ for _ in ()).throw(TimeoutError("timed out")))
                    with pytest.raises(TimeoutError):
                        jobs.run(message["kind"], message["payload"])
            for _ in range(2):  # and every message, the first one included, is delivered twice
                jobs.run(message["kind"], message["payload"])
                invocations += 1
    bodies = _sms_bodies()
    _deliver(api, bodies)
    assert cut_off and invocations >= 4 and len(bodies) > len(owners)  # some pages were queued twice
    for owner in owners:
        assert [t for t in sms_inbox(owner.phone) if "物业通知" in t] == ["【物业通知】紧急停电，详情请查看业主App。"]
