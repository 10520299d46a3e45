"""The urgent-notice SMS (API.md §8) with in-memory fakes: who is texted, pacing, and once per owner even when
the fan-out job or a message is delivered twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.jobs import Budget
from chalicelib.domain.model import Principal
from chalicelib.domain.notice_sms import MAX_SQS_DELAY, UNITS_PER_PAGE, NoticeSms
from chalicelib.domain.notices import NewNotice, NoticeService, sms_text
from chalicelib.names import NOTICE_SMS_JOB
from tests.unit.fakes import FakeAccounts, FakeAudit, FakeCommunities, UtcClock
from tests.unit.jobs_fakes import StepClock
from tests.unit.notices_fakes import (
    FakeJobQueue,
    FakeNotices,
    FakeOwnerDirectory,
    FakeSentLog,
    FakeSmsQueue,
    FakeSmsSender,
    add_community,
    add_owner,
)

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
STAFF = Principal("s1", "staff", "s", frozenset({"c1"}), frozenset(), False)




class Setup:
    def __init__(self, per_second: int = 10) -> None:
        self.clock = UtcClock(START)
        self.accounts, self.communities = FakeAccounts(), FakeCommunities()
        self.notices, self.jobs, self.queue = FakeNotices(), FakeJobQueue(), FakeSmsQueue(self.clock)
        self.sent, self.sms = FakeSentLog(), FakeSmsSender()
        self.service = NoticeService(self.notices, self.accounts, self.communities, self.jobs, FakeAudit(),
                                     clock=self.clock)
        self.texts = NoticeSms(self.notices, FakeOwnerDirectory(self.communities, self.accounts), self.queue,
                               self.jobs, self.sent, self.sms, per_second, clock=self.clock)
        add_community(self.communities, "c1", "b1", "b2")
        add_community(self.communities, "c2", "b9")

    def owner(self, user_id: str, *units: tuple[str, str], **kwargs) -> str:
        return add_owner(self.accounts, self.communities, user_id, units or [("c1", "b1")], **kwargs).phone

    def publish(self, **fields) -> str:
        fields.setdefault("urgency", "urgent")
        fields.setdefault("send_sms", True)
        return self.service.publish(STAFF, NewNotice("c1", "紧急停水", "今天下午停水。", "outage", **fields)).notice_id

    def run_jobs(self, budget=None) -> list:
        """Run every queued fan-out job as the jobs worker would, the clock moved on by each job's delay;
        `budget()` gives each invocation its budget. Returns each invocation's result."""
        results = []
        while self.jobs.sent:
            kind, payload, delay = self.jobs.sent.pop(0)
            assert kind == NOTICE_SMS_JOB
            self.clock.now += timedelta(seconds=delay)
            results.append(self.texts.fan_out(payload["notice_id"], payload.get("step"),
                                              budget() if budget else None))
        return results

    def deliver_all(self) -> list[str]:
        notices: dict = {}
        return [self.texts.deliver(body, notices) for body in self.queue.bodies()]

    def received(self) -> list[str]:
        return sorted(phone for phone, _ in self.sms.received)


@pytest.fixture
def s() -> Setup:
    return Setup()


def test_each_targeted_owner_is_texted_once_in_chinese_even_when_everything_is_delivered_twice(s):
    alice, erin = s.owner("alice", ("c1", "b1")), s.owner("erin", ("c1", "b1"), ("c1", "b2"))
    s.owner("bob", ("c1", "b2"))
    s.owner("carol", ("c2", "b9"))
    s.publish(building_ids=("b1",))
    s.jobs.sent *= 2  # the fan-out job redelivered
    s.run_jobs()
    assert sorted(m.phone for m in s.queue.messages) == sorted([alice, erin])  # the duplicate finds it done
    outcomes = s.deliver_all() + s.deliver_all()  # every message redelivered too
    assert s.received() == sorted([alice, erin])
    assert {text for _, text in s.sms.received} == {sms_text("紧急停水")}
    assert outcomes.count("sent") == 2 and outcomes.count("duplicate") == 2


def test_owners_who_opted_out_and_staff_are_not_texted(s):
    alice = s.owner("alice")
    s.owner("dave", sms_notices=False)
    s.owner("sam", role="staff")
    s.publish()
    s.run_jobs()
    s.deliver_all()
    assert s.received() == [alice]


def test_a_tag_audience_texts_only_owners_with_the_tag(s):
    grandma = s.owner("grandma", tags=["elderly"])
    s.owner("bob")
    s.publish(tags=("elderly",))
    s.run_jobs()
    s.deliver_all()
    assert s.received() == [grandma]


def test_texts_are_paced_at_the_configured_rate():
    s = Setup(per_second=2)
    for i in range(5):
        s.owner(f"o{i}")
    s.publish()
    s.run_jobs()
    assert sorted(m.delay_seconds for m in s.queue.messages) == [0, 0, 1, 1, 2]


def _due_times(s: Setup) -> Counter:
    """How many texts fall due in each second (queued at `enqueued_at` + the message's delay)."""
    return Counter(at + m.delay_seconds for at, m in s.queue.timed)


def test_a_large_audience_continues_in_a_later_run_and_everyone_is_texted_once():
    s = Setup(per_second=1)
    phones = [s.owner(f"o{i:04d}") for i in range(MAX_SQS_DELAY + 150)]
    s.publish()
    results = s.run_jobs()
    # the queue never runs more than the 15-minute SQS delay ahead of the texts, nor over the rate
    assert len(results) > 1 and all(r.continued for r in results[:-1]) and results[-1].status == "done"
    assert all(m.delay_seconds <= MAX_SQS_DELAY for m in s.queue.messages)
    assert max(_due_times(s).values()) == 1
    s.deliver_all()
    assert s.received() == sorted(phones)


def _bounded(seconds_per_page: float, budget_seconds: float, clock: StepClock, s: Setup):
    """Invocations whose budget is `budget_seconds`, each page of the directory costing `seconds_per_page`."""
    pages = s.texts._owners.owners_page

    def slow_page(*args):
        clock.tick()
        return pages(*args)

    s.texts._owners.owners_page = slow_page
    clock.per_tick = seconds_per_page
    return lambda: Budget(budget_seconds, clock=clock)


def test_a_fan_out_bigger_than_one_invocation_continues_and_texts_everyone_once():
    s = Setup(per_second=20)
    phones = [s.owner(f"o{i:04d}") for i in range(UNITS_PER_PAGE * 7 + 30)]
    clock = StepClock(0)
    s.publish()
    results = s.run_jobs(budget=_bounded(1.5, 3.0, clock, s))  # two pages fit in an invocation
    assert [r.pages for r in results] == [2, 2, 2, 2]
    assert all(r.queued <= 2 * UNITS_PER_PAGE for r in results)
    s.deliver_all()
    assert s.received() == sorted(phones)
    assert max(_due_times(s).values()) <= 20  # paced across invocations as if it were one


def test_a_duplicated_continuation_queues_and_sends_nothing_extra():
    s = Setup(per_second=20)
    phones = [s.owner(f"o{i:04d}") for i in range(UNITS_PER_PAGE * 5)]
    clock = StepClock(0)
    budget = _bounded(1.0, 1.5, clock, s)  # one page an invocation
    s.publish()
    original = s.jobs.send

    def twice(kind, payload, *, delay_seconds=0):  # every continuation delivered twice
        original(kind, payload, delay_seconds=delay_seconds)
        if "step" in payload:
            original(kind, payload, delay_seconds=delay_seconds)

    s.jobs.send = twice
    results = s.run_jobs(budget=budget)
    assert "stale" in {r.status for r in results}
    assert sorted(m.phone for m in s.queue.messages) == sorted(phones)  # each owner queued once
    s.deliver_all()
    assert s.received() == sorted(phones)


def test_a_fan_out_cut_off_mid_page_resumes_and_loses_nobody():
    s = Setup(per_second=20)
    phones = [s.owner(f"o{i:04d}") for i in range(UNITS_PER_PAGE * 3)]
    s.publish()
    send, calls = s.queue.send, []

    def crash_on_second_page(messages):
        calls.append(len(messages))
        send(messages[:40])  # part of the page got queued
        if len(calls) == 2:
            raise TimeoutError("invocation timed out")
        send(messages[40:])
        return 1

    s.queue.send = crash_on_second_page
    kind, payload, _ = s.jobs.sent.pop(0)
    with pytest.raises(TimeoutError):
        s.texts.fan_out(payload["notice_id"])
    s.jobs.sent.append((kind, payload, 0))  # SQS redelivers the job
    s.run_jobs()
    assert len(s.queue.messages) == len(phones) + 40  # the cut-off page's first 40 were queued twice
    outcomes = s.deliver_all()
    assert s.received() == sorted(phones) and outcomes.count("duplicate") == 40


def test_an_owner_whose_units_fall_on_different_pages_gets_one_message(s):
    for i in range(UNITS_PER_PAGE):
        s.owner(f"o{i:03d}")
    # A second unit of the first owner, sorted onto the next page of the community's units.
    s.communities.units["zz-last"] = replace(s.communities.units["o000-c1-b1-0"], unit_id="zz-last")
    s.publish()
    s.run_jobs()
    assert len(s.queue.messages) == UNITS_PER_PAGE == len({m.user_id for m in s.queue.messages})


def test_a_notice_withdrawn_before_delivery_texts_nobody(s):
    s.owner("alice")
    notice_id = s.publish()
    s.run_jobs()
    s.service.withdraw(STAFF, notice_id)
    assert set(s.deliver_all()) == {"withdrawn"}
    assert s.received() == []
    queued = len(s.queue.messages)
    assert s.texts.fan_out(notice_id).status == "not_applicable"
    assert len(s.queue.messages) == queued and s.jobs.sent == []


def test_a_failed_text_is_sent_on_redelivery_and_only_once(s):
    alice = s.owner("alice")
    s.publish()
    s.run_jobs()
    s.sms.failures = 1
    with pytest.raises(RuntimeError):
        s.deliver_all()
    assert s.deliver_all() == ["sent"] and s.deliver_all() == ["duplicate"]
    assert s.received() == [alice]


def test_a_phone_refused_by_policy_is_not_texted(s):
    alice = s.owner("alice")
    s.sms.blocked.add(alice)
    s.publish()
    s.run_jobs()
    assert s.deliver_all() == ["not_allowed"] and s.received() == []


def test_a_scheduled_notice_is_texted_only_once_published(s):
    alice = s.owner("alice")
    notice_id = s.publish(publish_at=START + timedelta(hours=2))
    result = s.texts.fan_out(notice_id)
    assert result.status == "scheduled" and s.queue.messages == []
    assert s.jobs.sent[-1] == (NOTICE_SMS_JOB, {"notice_id": notice_id}, MAX_SQS_DELAY)
    s.clock.now = START + timedelta(hours=2)
    s.jobs.sent = [s.jobs.sent[-1]]
    s.run_jobs()
    s.deliver_all()
    assert s.received() == [alice]


def test_a_notice_without_sms_texts_nobody(s):
    s.owner("alice")
    notice_id = s.publish(send_sms=False)
    assert s.jobs.sent == []
    assert s.texts.fan_out(notice_id).status == "not_applicable" and s.queue.messages == []


def test_an_expired_notice_is_not_fanned_out(s):
    s.owner("alice")
    notice_id = s.publish(expires_at=START + timedelta(minutes=5))
    s.clock.now = START + timedelta(minutes=5)
    assert s.texts.fan_out(notice_id).status == "expired" and s.queue.messages == []
