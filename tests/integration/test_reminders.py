"""Fee reminders end to end under the emulator: the daily job, the paced consumer, re-runs and opt-outs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.events import schedules
from tests.integration.helpers import model_answers_lost, sms_inbox


@pytest.fixture
def drain(aws):
    """Deliver every message of the SMS outbox queue to the app's consumer, as Lambda would."""
    from app import app
    from chalicelib import deps
    from chalicelib.settings import get_settings
    from devstack.triggers import deliver, sqs_handlers

    config = next(c for c in sqs_handlers(app) if c.name == "handle_sms_outbox")
    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().name("sms-outbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def run() -> int:
        handled = 0
        while (count := deliver(app, config, sqs, url, arn, "us-east-1", wait=0)):
            handled += count
        return handled

    return run


def _bill(api, world, unit_id: str, due: date, cents: int) -> None:
    reply = api.post("/staff/bills", {"unit_id": unit_id, "type": "parking", "period": due.strftime("%Y-%m"),
                                      "items": [{"code": "parking", "name": "停车费", "unit_price_cents": cents}],
                                      "due_date": due.isoformat()}, token=world.staff.token)
    assert reply.status == 201, reply.body


def test_owner_with_due_bills_gets_one_chinese_text_once(api, world, drain):
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.reminders import business_today

    today = business_today(utcnow())
    owner = world.owner([world.unit_ids[0], world.unit_ids[1]])
    _bill(api, world, world.unit_ids[0], today - timedelta(days=2), 12_000)  # overdue
    _bill(api, world, world.unit_ids[1], today + timedelta(days=3), 3_050)  # due within 3 days
    _bill(api, world, world.unit_ids[1], today + timedelta(days=20), 99_900)  # not yet
    summary = schedules.run("fee-reminders")
    assert summary["enqueued"] >= 1
    drain()
    texts = [t for t in sms_inbox(owner.phone) if "待缴" in t]
    assert texts == ["【物业】您有2笔费用待缴（其中1笔已逾期），合计150.50元，"
                     "请登录业主App及时缴纳。如已缴纳请忽略本短信。"]
    # a re-run the same day (or a retried schedule) texts nobody twice
    schedules.run("fee-reminders")
    drain()
    assert len([t for t in sms_inbox(owner.phone) if "待缴" in t]) == 1


def test_a_reminder_whose_claim_answers_were_lost_is_texted_once(api, world, drain):
    from chalicelib.adapters.dynamo.reminders import ReminderLogModel
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.reminders import business_today

    owner = world.owner([world.unit_ids[2]])
    _bill(api, world, world.unit_ids[2], business_today(utcnow()) - timedelta(days=1), 8_000)
    # every answer to the reminder log's conditional updates (the day's claim, then the sender's) is lost
    with model_answers_lost(ReminderLogModel, "UpdateItem") as lost:
        schedules.run("fee-reminders")
        drain()
    assert len([t for t in sms_inbox(owner.phone) if "待缴" in t]) == 1
    assert lost["answers"] >= 2


def test_opted_out_owner_is_not_texted(api, world, drain):
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.reminders import business_today

    owner = world.owner([world.unit_ids[2]])
    assert api.patch("/me", {"notification_prefs": {"sms_reminders": False}}, token=owner.token).status == 200
    _bill(api, world, world.unit_ids[2], business_today(utcnow()), 5_000)
    summary = schedules.run("fee-reminders")
    drain()
    assert summary["skipped_opted_out"] >= 1
    assert [t for t in sms_inbox(owner.phone) if "待缴" in t] == []


def test_monthly_billing_starts_a_run_for_every_community_with_a_schedule(api, world):
    summary = schedules.run("monthly-billing")
    assert summary["communities"] >= 1
    assert summary["skipped"].get(world.community_id) == "fee_schedule_missing"


def test_a_run_spread_over_invocations_texts_each_owner_once_with_duplicated_continuations(api, world, drain,
                                                                                            monkeypatch):
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.jobs import Budget
    from chalicelib.domain.reminders import business_today
    from chalicelib.events import jobs
    from tests.integration.helpers import take_jobs

    # every invocation may do 5 steps (pages of the index) before it hands the rest to a continuation
    monkeypatch.setattr(jobs, "budget", lambda: Budget(None, max_steps=5))
    today = business_today(utcnow())
    owners = [world.owner([unit_id]) for unit_id in world.unit_ids]
    for unit_id in world.unit_ids:
        _bill(api, world, unit_id, today - timedelta(days=1), 10_000)
        _bill(api, world, unit_id, today + timedelta(days=1), 2_000)
    take_jobs("fee-reminder-run")
    first = schedules.run("fee-reminders")
    assert first["status"] == "continued" and first["pages"] == 5
    invocations = 1
    while messages := take_jobs("fee-reminder-run"):
        for message in messages:
            for _ in range(2):  # every continuation is delivered twice
                jobs.run(message["kind"], message["payload"])
                invocations += 1
    drain()
    assert invocations >= 4  # 16 shards at least, 5 pages an invocation
    for owner in owners:
        assert [t for t in sms_inbox(owner.phone) if "待缴" in t] == [
            "【物业】您有2笔费用待缴（其中1笔已逾期），合计120.00元，请登录业主App及时缴纳。如已缴纳请忽略本短信。"]
