"""Fee reminders: selection, aggregation, the 7-day rule, once per day under re-runs, and resumption."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.jobs import Budget
from chalicelib.domain.reminders import (
    PAGE_BILLS,
    FeeReminders,
    LogEntry,
    OpenBill,
    OwnerDue,
    Recipient,
    ReminderSender,
    due_limit,
    previous_period,
    reminder_text,
)
from chalicelib.names import FEE_REMINDER_RUN_JOB
from tests.unit.jobs_fakes import FakeJobProgress, StepClock
from tests.unit.notices_fakes import FakeJobQueue

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 25)


class Source:
    """Bills in shards as the index keeps them (`shard_of`, default: all in shard 0), paged like a Query
    (a full page always hands out a next position); `pages_read` counts index pages, `on_page` runs on each."""

    def __init__(self, bills: list[OpenBill], owners: dict[str, set[str]], people: dict[str, Recipient],
                 shard_of=lambda bill: "0"):
        self.bills, self.owners, self.people, self.shard_of = bills, owners, people, shard_of
        self.pages_read = 0
        self.on_page = lambda: None

    def open_bills_page(self, limit, shard, start, size):
        self.pages_read += 1
        self.on_page()
        due = sorted((b for b in self.bills if b.due_date <= limit and self.shard_of(b) == shard),
                     key=lambda b: (b.due_date, b.bill_id))
        offset = start["offset"] if start else 0
        page = due[offset:offset + size]
        return page, ({"offset": offset + size} if len(page) == size else None)

    def open_bills_of_owners(self, user_ids, limit):
        found = {}
        for bill in self.bills:
            for owner in self.owners.get(bill.unit_id, set()) & set(user_ids):
                if bill.due_date <= limit:
                    found.setdefault(owner, []).append(bill)
        return found

    def owners_of_units(self, unit_ids):
        return {u: self.owners.get(u, set()) for u in unit_ids}

    def recipients(self, user_ids):
        return {u: self.people[u] for u in user_ids if u in self.people}


class Log(FakeJobProgress):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, Any]] = {}

    def recent(self, user_ids):
        return {u: LogEntry(self.items[u]["day"], self.items[u]["pending"], self.items[u].get("step"))
                for u in user_ids if u in self.items}

    def claim(self, user_id, day, quiet_since, step):
        current = self.items.get(user_id)
        if current and current["day"] >= quiet_since:
            return False
        self.items[user_id] = {"day": day, "pending": True, "step": step}
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


def test_a_due_counts_a_bill_once():
    bill = OpenBill("b1", "u", 100, "2026-11-25")
    due = OwnerDue("x")
    due.add(bill, TODAY)
    due.add(bill, TODAY)
    assert due.count == 1 and due.total_cents == 100


def test_rerun_the_same_day_enqueues_nobody_twice():
    log, outbox = Log(), Outbox()
    job = _job(log=log, outbox=outbox)
    job.run()
    for payload in outbox.sent:  # the sender drains the queue
        log.start_send(payload["user_id"], payload["day"])
    first = len(outbox.sent)
    summary = job.run()  # a second run of the day, as the CLI or a retried schedule would start it
    assert len(outbox.sent) == first and summary.enqueued == 0 and summary.seen_earlier == 2


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


# -- runs bigger than one invocation ----------------------------------------------------------------


def _town(owners: int, opted_out_every: int = 10):
    """`owners` owners with one unit each and two open bills (overdue, due in 2 days) in different shards."""
    people = {f"o{i:05d}": Recipient(f"o{i:05d}", f"+86139{i:08d}", i % opted_out_every != 0,
                                     frozenset({f"u{i:05d}"})) for i in range(owners)}
    bills = [OpenBill(f"b{i:05d}{kind}", f"u{i:05d}", cents, due)
             for i in range(owners) for kind, cents, due in (("w", 4_500, "2026-11-20"), ("e", 6_200, "2026-11-27"))]
    owners_of = {f"u{i:05d}": {f"o{i:05d}"} for i in range(owners)}
    return Source(bills, owners_of, people, shard_of=lambda b: "3" if b.bill_id.endswith("w") else "11")


def _invocations(job: FeeReminders, jobs: FakeJobQueue, budget, limit: int = 1000) -> list:
    """The schedule's invocation, then every continuation the jobs queue delivers, each with `budget()`."""
    summaries = [job.run(budget=budget(), jobs=jobs)]
    while jobs.sent and len(summaries) < limit:
        kind, payload, _ = jobs.sent.pop(0)
        assert kind == FEE_REMINDER_RUN_JOB
        summaries.append(job.resume(payload["day"], payload["step"], budget=budget(), jobs=jobs))
    return summaries


def _deliver(log: Log, outbox: Outbox) -> Phone:
    phone = Phone()
    sender = ReminderSender(log, phone)
    for payload in outbox.sent:
        sender.send(payload)
    return phone


def _timed(source: Source, seconds_per_page: float, budget_seconds: float):
    clock = StepClock(seconds_per_page)
    source.on_page = clock.tick
    return lambda: Budget(budget_seconds, clock=clock)


def test_a_run_bigger_than_one_invocation_reminds_every_owner_once_with_all_their_bills():
    source, log, outbox, jobs = _town(450), Log(), Outbox(), FakeJobQueue()
    summaries = _invocations(_job(source, log, outbox), jobs, _timed(source, 2.0, 5.0))  # 2 pages a call
    assert len(summaries) > 3 and all(s.pages <= 3 for s in summaries)
    assert [s.status for s in summaries][-1] == "done"
    assert all(s.status == "continued" for s in summaries[:-1])
    phone = _deliver(log, outbox)
    texted = sorted(p for p, _ in phone.texts)
    assert texted == sorted(r.phone for r in source.people.values() if r.sms_reminders)  # once each
    # each text covers both bills although they were read on different pages (shards 3 and 11)
    assert {t for _, t in phone.texts} == {"【物业】您有2笔费用待缴（其中1笔已逾期），合计107.00元，"
                                           "请登录业主App及时缴纳。如已缴纳请忽略本短信。"}
    # a second run the same day (the schedule fired twice) enqueues nobody again
    again = _invocations(_job(source, log, outbox), jobs, _timed(source, 2.0, 5.0))
    assert sum(s.enqueued + s.resumed for s in again) == 0 and again[-1].status == "done"
    assert len(outbox.sent) == len(texted)


def test_a_duplicated_continuation_sends_and_enqueues_nothing_extra():
    source, log, outbox, jobs = _town(300), Log(), Outbox(), FakeJobQueue()
    job = _job(source, log, outbox)
    budget = _timed(source, 1.0, 1.5)  # one page a call
    original = jobs.send

    def twice(kind, payload, *, delay_seconds=0):
        original(kind, payload, delay_seconds=delay_seconds)
        original(kind, payload, delay_seconds=delay_seconds)

    jobs.send = twice
    summaries = _invocations(job, jobs, budget)
    assert "stale" in {s.status for s in summaries}
    assert len(outbox.sent) == len({p["user_id"] for p in outbox.sent}) == 270  # queued once each
    assert len(_deliver(log, outbox).texts) == 270


def test_a_continuation_cut_off_mid_page_resumes_and_texts_everyone_once():
    source, log, jobs = _town(300), Log(), FakeJobQueue()

    class Flaky(Outbox):
        def send_many(self, kind, payloads):
            super().send_many(kind, payloads[:30])  # part of the page got out
            if self.calls == 3:
                raise TimeoutError("invocation timed out")
            return super().send_many(kind, payloads[30:])

    outbox = Flaky()
    job = _job(source, log, outbox)
    budget = _timed(source, 1.0, 3.0)  # three pages a call
    first = job.run(budget=budget(), jobs=jobs)
    kind, payload, _ = jobs.sent.pop(0)
    with pytest.raises(TimeoutError):
        job.resume(payload["day"], payload["step"], budget=budget(), jobs=jobs)
    jobs.sent.insert(0, (kind, payload, 0))  # SQS redelivers the continuation
    summaries = [first, *_invocations_from_queue(job, jobs, budget)]
    assert summaries[-1].status == "done" and sum(s.resumed for s in summaries) >= 30
    phone = _deliver(log, outbox)
    assert len(phone.texts) == len({p for p, _ in phone.texts}) == 270


def _invocations_from_queue(job: FeeReminders, jobs: FakeJobQueue, budget) -> list:
    summaries = []
    while jobs.sent:
        _, payload, _ = jobs.sent.pop(0)
        summaries.append(job.resume(payload["day"], payload["step"], budget=budget(), jobs=jobs))
    return summaries


def test_a_budget_spent_before_the_first_page_still_continues():
    source, log, outbox, jobs = _town(10), Log(), Outbox(), FakeJobQueue()
    summary = _job(source, log, outbox).run(budget=Budget(0.0), jobs=jobs)
    assert summary.status == "continued" and summary.pages == 0 and len(jobs.sent) == 1


def test_pages_are_bounded():
    source = _town(PAGE_BILLS * 2)
    _job(source).run()
    assert source.pages_read == 16 + 4  # every shard once, plus the full pages of shards 3 and 11


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
