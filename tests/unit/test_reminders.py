"""Fee reminders: selection, aggregation, the 7-day rule, once per day under re-runs, and resumption."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.reminders import (
    FeeReminders,
    OpenBill,
    Recipient,
    ReminderSender,
    aggregate,
    due_limit,
    previous_period,
    reminder_text,
)

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 25)


class Source:
    def __init__(self, bills: list[OpenBill], owners: dict[str, set[str]], people: dict[str, Recipient]):
        self.bills, self.owners, self.people = bills, owners, people

    def open_bills_due_by(self, limit: str, shard: str):
        # the real index is sharded by bill; here every bill lives in shard 0
        return [b for b in self.bills if b.due_date <= limit] if shard == "0" else []

    def owners_of_units(self, unit_ids):
        return {u: self.owners.get(u, set()) for u in unit_ids}

    def recipients(self, user_ids):
        return {u: self.people[u] for u in user_ids if u in self.people}


class Log:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def recent(self, user_ids):
        return {u: (self.items[u]["day"], self.items[u]["pending"]) for u in user_ids if u in self.items}

    def claim(self, user_id, day, quiet_since):
        current = self.items.get(user_id)
        if current and current["day"] >= quiet_since:
            return False
        self.items[user_id] = {"day": day, "pending": True}
        return True

    def start_send(self, user_id, day):
        current = self.items.get(user_id)
        if not current or current["day"] != day or not current["pending"]:
            return False
        current["pending"] = False
        return True

    def release(self, user_id, day):
        if self.items.get(user_id, {}).get("day") == day:
            self.items[user_id]["pending"] = True


class Outbox:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.calls = 0

    def send_many(self, kind, payloads):
        assert kind == "fee-reminder"
        self.calls += 1
        self.sent.extend(payloads)
        return 1


class Phone:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send(self, phone, text):
        self.texts.append((phone, text))
        return "id"


def _world():
    bills = [
        OpenBill("b1", "unit-a", 12_345, "2026-11-20"),  # overdue
        OpenBill("b2", "unit-a", 5_000, "2026-11-28"),  # due in 3 days
        OpenBill("b3", "unit-b", 7_000, "2026-11-27"),  # due soon, co-owned
        OpenBill("b4", "unit-c", 9_900, "2026-12-15"),  # not due yet: no reminder
        OpenBill("b5", "unit-d", 1_000, "2026-11-01"),  # owner opted out
    ]
    owners = {"unit-a": {"alice"}, "unit-b": {"alice", "bob"}, "unit-c": {"carol"}, "unit-d": {"dave"}}
    people = {"alice": Recipient("alice", "+8613900000001", True), "bob": Recipient("bob", "+8613900000002", True),
              "carol": Recipient("carol", "+8613900000003", True), "dave": Recipient("dave", "+8613900000004", False)}
    return Source(bills, owners, people)


def _job(source=None, log=None, outbox=None):
    return FeeReminders(source or _world(), log or Log(), outbox or Outbox(), lambda: NOW)


def test_selection_covers_overdue_and_due_within_three_days():
    assert due_limit(TODAY) == "2026-11-28"
    outbox = Outbox()
    summary = _job(outbox=outbox).run()
    assert {p["user_id"] for p in outbox.sent} == {"alice", "bob"}
    assert summary.skipped_opted_out == 1 and summary.bills == 4


def test_one_text_per_owner_with_count_total_and_overdue():
    outbox = Outbox()
    _job(outbox=outbox).run()
    alice = next(p for p in outbox.sent if p["user_id"] == "alice")
    assert alice["text"] == ("【物业】您有3笔费用待缴（其中1笔已逾期），合计243.45元，"
                             "请登录业主App及时缴纳。如已缴纳请忽略本短信。")
    bob = next(p for p in outbox.sent if p["user_id"] == "bob")
    assert "1笔" in bob["text"] and "70.00元" in bob["text"] and "逾期" not in bob["text"]


def test_aggregate_counts_a_bill_once_per_owner():
    bill = OpenBill("b1", "u", 100, "2026-11-25")
    dues = aggregate([bill, bill], {"u": {"x"}}, TODAY)
    assert dues["x"].count == 1 and dues["x"].total_cents == 100


def test_rerun_the_same_day_enqueues_nobody_twice():
    log, outbox = Log(), Outbox()
    job = _job(log=log, outbox=outbox)
    job.run()
    for payload in outbox.sent:  # the sender drains the queue
        log.start_send(payload["user_id"], payload["day"])
    first = len(outbox.sent)
    summary = job.run()
    assert len(outbox.sent) == first and summary.enqueued == 0 and summary.skipped_recent == 2


def test_owners_reminded_in_the_last_seven_days_are_skipped():
    log = Log()
    log.items["alice"] = {"day": "2026-11-19", "pending": False}  # 6 days ago
    log.items["bob"] = {"day": "2026-11-18", "pending": False}  # 7 days ago: due again
    outbox = Outbox()
    _job(log=log, outbox=outbox).run()
    assert [p["user_id"] for p in outbox.sent] == ["bob"]


def test_a_run_stopped_after_claiming_resumes_and_the_sender_sends_once():
    # given a run that claimed alice and bob but died before enqueueing
    log = Log()
    log.items["alice"] = {"day": "2026-11-25", "pending": True}
    log.items["bob"] = {"day": "2026-11-25", "pending": True}
    outbox = Outbox()
    summary = _job(log=log, outbox=outbox).run()
    assert summary.resumed == 2 and len(outbox.sent) == 2
    # when the queue delivers every message twice
    phone = Phone()
    sender = ReminderSender(log, phone)
    for payload in outbox.sent + outbox.sent:
        sender.send(payload)
    # then each owner got exactly one text
    assert sorted(p for p, _ in phone.texts) == ["+8613900000001", "+8613900000002"]


def test_a_failed_send_is_released_for_the_retry():
    class Broken(Phone):
        def send(self, phone, text):
            raise RuntimeError("SNS throttled")

    log = Log()
    log.items["alice"] = {"day": "2026-11-25", "pending": True}
    payload = {"user_id": "alice", "day": "2026-11-25", "phone": "+8613900000001", "text": "x"}
    with pytest.raises(RuntimeError):
        ReminderSender(log, Broken()).send(payload)
    phone = Phone()
    assert ReminderSender(log, phone).send(payload) is True and len(phone.texts) == 1


def test_dry_run_claims_and_enqueues_nothing():
    log, outbox = Log(), Outbox()
    summary = _job(log=log, outbox=outbox).run(dry_run=True)
    assert summary.enqueued == 2 and outbox.sent == [] and log.items == {}


def test_enqueueing_is_batched():
    people = {f"o{i}": Recipient(f"o{i}", f"+86139{i:08d}", True) for i in range(250)}
    bills = [OpenBill(f"b{i}", f"u{i}", 100, "2026-11-25") for i in range(250)]
    owners = {f"u{i}": {f"o{i}"} for i in range(250)}
    outbox = Outbox()
    _job(source=Source(bills, owners, people), outbox=outbox).run()
    assert len(outbox.sent) == 250 and outbox.calls == 3  # one hand-off per 100 owners (SQS batches of 10 inside)


def test_reminder_text_formats_yuan():
    from chalicelib.domain.reminders import OwnerDue

    due = OwnerDue("x", {"b"}, 5, 0)
    assert "0.05元" in reminder_text(due)


@pytest.mark.parametrize("now, period", [
    (datetime(2026, 11, 30, 16, 30, tzinfo=UTC), "2026-11"),  # 00:30 on Dec 1st in Shanghai
    (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "2026-12"),
])
def test_previous_period_is_the_month_just_ended_in_shanghai(now, period):
    assert previous_period(now) == period
