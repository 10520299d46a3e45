"""Urgent notice SMS: one job pages the audience and queues one message per owner; a worker texts each once.

Fan-out: `fan_out(notice_id)` pages the community's units (`by-community` index), reads their owners' accounts
in batches, keeps the owners in the audience who did not opt out, and queues one message per owner in SQS
batches of 10, spaced by `DelaySeconds` so SNS sees at most `per_second` texts a second: message n is due
n / `per_second` seconds after the fan-out's origin, whichever invocation queues it. One page of units is one
step (`domain.jobs`): an invocation stops when its budget is spent, or when the queue is already
`MAX_LEAD` seconds ahead of the texts (SQS delays stop at 15 minutes), and re-queues itself to continue.

Delivery: each message first claims `(notice_id, user_id)` with a conditional put; only the claimant texts.
A retried fan-out or a redelivered message therefore never texts an owner twice. If SNS refuses, the claim is
released so the redelivery can try again (at most once per owner, never twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.jobs import Budget, JobProgress
from chalicelib.domain.notices import JobQueue, Notice, NoticeStore, Reader, due_in_seconds, sms_text
from chalicelib.names import NOTICE_SMS_JOB
from chalicelib.observability import logger

MAX_SQS_DELAY = 900
UNITS_PER_PAGE = 100
# Stop queueing when the next text is due this far ahead: the rest of the 15-minute delay window is room
# for the page in hand (100 units' owners take 5 s at 20/s), so no delay ever needs clamping.
MAX_LEAD = MAX_SQS_DELAY // 2
# ... and come back this long before the queued texts run out, so sending never stalls on the continuation.
RESUME_LEAD = 60


@dataclass(frozen=True)
class SmsMessage:
    notice_id: str
    user_id: str
    phone: str
    text: str
    delay_seconds: int = 0

    def payload(self) -> dict[str, str]:
        return {"notice_id": self.notice_id, "user_id": self.user_id, "phone": self.phone, "text": self.text}


class OwnerDirectory(Protocol):
    def owners_page(self, community_id: str, start: dict[str, Any] | None,
                    page_size: int) -> tuple[list[Reader], dict[str, Any] | None]:
        """The owners of one page of the community's units (accounts read in batches) and the next position."""


class SmsQueue(Protocol):
    def send(self, messages: list[SmsMessage]) -> int:
        """Queue messages in batches of 10; return the number of SendMessageBatch calls."""


class SentLog(JobProgress, Protocol):
    def claim(self, notice_id: str, user_id: str, at: str) -> bool:
        """Record that this owner is being texted for this notice; False if someone already did."""

    def release(self, notice_id: str, user_id: str) -> None: ...


class SmsSender(Protocol):
    def allowed(self, phone: str) -> bool: ...

    def send(self, phone: str, text: str) -> str: ...


@dataclass
class FanOutResult:
    """What one invocation of the fan-out did."""

    queued: int = 0
    skipped_opt_out: int = 0
    pages: int = 0
    continued: bool = False
    status: str = "done"  # done | continued | scheduled | expired | not_applicable | already_done | stale | superseded
    step: int = 0  # the fan-out's next step after this invocation
    continue_in: int = 0  # the continuation's delay (s)


def fan_out_id(notice_id: str) -> str:
    """The progress record of a notice's fan-out."""
    return f"notice-sms#{notice_id}"


class NoticeSms:
    def __init__(self, notices: NoticeStore, owners: OwnerDirectory, queue: SmsQueue, jobs: JobQueue, sent: SentLog,
                 sms: SmsSender, per_second: int, clock: Callable[[], datetime] = utcnow):
        self._notices = notices
        self._owners = owners
        self._queue = queue
        self._jobs = jobs
        self._sent = sent
        self._sms = sms
        self._per_second = per_second
        self._clock = clock

    def fan_out(self, notice_id: str, step: int | None = None, budget: Budget | None = None) -> FanOutResult:
        """Queue one SMS per owner in the notice's audience, a page of units per step, within `budget`.

        `step` None starts the fan-out (or picks it up where its record stands); a continuation names the
        step it was sent for and goes on from the record; once the fan-out is done, messages do nothing.
        Deliveries are deduplicated, so a page queued twice (a cut-off step, a duplicate) texts nobody twice.
        """
        result = FanOutResult()
        notice = self._notices.get(notice_id)
        now = self._clock()
        if notice is None or not notice.texts_owners or notice.withdrawn_at is not None:
            result.status = "not_applicable"
            return result
        wait = due_in_seconds(notice.publish_at, now)
        if wait:
            # Scheduled: come back when it is published (SQS delays are capped at 15 minutes).
            self._jobs.send(NOTICE_SMS_JOB, {"notice_id": notice_id}, delay_seconds=min(wait, MAX_SQS_DELAY))
            result.status = "scheduled"
            return result
        if not notice.live(iso(now)):
            result.status = "expired"
            return result
        job = fan_out_id(notice_id)
        if step is None:
            record = self._sent.begin(job, {"cursor": None, "queued": 0, "origin": iso(now)})
        else:
            # Whatever step the message names, go on from the record: a redelivery after a cut-off invocation
            # picks up where it stopped, a duplicate beside the live one loses the next `advance` and stops.
            record = self._sent.load(job)
            if record is None:
                result.status = "stale"
                return result
        result.step = record.step
        if record.done:
            result.status = "already_done" if step is None else "stale"
            return result
        return self._steps(notice, record.step, dict(record.state), budget or Budget.unlimited(), result)

    def _steps(self, notice: Notice, step: int, state: dict[str, Any], budget: Budget,
               result: FanOutResult) -> FanOutResult:
        origin = datetime.fromisoformat(state["origin"].replace("Z", "+00:00"))
        seen: set[str] = set()
        while True:
            lead = self._lead(origin, int(state["queued"]))
            if lead > MAX_LEAD or not budget.left():
                result.continue_in = min(max(0, lead - RESUME_LEAD), MAX_SQS_DELAY)
                self._jobs.send(NOTICE_SMS_JOB, {"notice_id": notice.notice_id, "step": step},
                                delay_seconds=result.continue_in)
                result.continued, result.status = True, "continued"
                return result
            readers, cursor = self._owners.owners_page(notice.community_id, state["cursor"], UNITS_PER_PAGE)
            batch = self._messages(notice, readers, seen, origin, int(state["queued"]), result)
            self._queue.send(batch)
            state = {**state, "cursor": cursor, "queued": int(state["queued"]) + len(batch)}
            if not self._sent.advance(fan_out_id(notice.notice_id), step, state, cursor is None):
                result.status = "superseded"  # a duplicate of this invocation did this step and goes on
                return result
            step, result.step, result.pages = step + 1, step + 1, result.pages + 1
            budget.step_done()
            if cursor is None:
                return result

    def _lead(self, origin: datetime, sequence: int) -> int:
        """Seconds from now until message number `sequence` of the fan-out is due."""
        elapsed = int((self._clock() - origin).total_seconds())
        return sequence // self._per_second - elapsed

    def _messages(self, notice: Notice, readers: Iterable[Reader], seen: set[str], origin: datetime,
                  sequence: int, result: FanOutResult) -> list[SmsMessage]:
        """This page's messages, message `sequence + i` delayed until its slot at the configured rate."""
        text = sms_text(notice.title)
        out = []
        for reader in readers:
            if reader.user_id in seen or not notice.audience.includes(reader, notice.community_id):
                continue
            seen.add(reader.user_id)
            if not reader.sms_notices:
                result.skipped_opt_out += 1
                continue
            delay = max(0, self._lead(origin, sequence + len(out)))
            if delay > MAX_SQS_DELAY:  # a page far larger than MAX_SQS_DELAY - MAX_LEAD allows for
                logger.warning("notice sms delay clamped", extra={"notice_id": notice.notice_id})
                delay = MAX_SQS_DELAY
            out.append(SmsMessage(notice.notice_id, reader.user_id, reader.phone, text, delay))
        result.queued += len(out)
        return out

    def deliver(self, message: dict[str, str], notices: dict[str, Notice | None]) -> str:
        """Text one owner unless already texted for this notice; `notices` caches notice reads per batch."""
        notice_id = message["notice_id"]
        if notice_id not in notices:
            notices[notice_id] = self._notices.get(notice_id)
        notice = notices[notice_id]
        if notice is None or not notice.live(iso(self._clock())):
            return "withdrawn"
        if not self._sms.allowed(message["phone"]):
            return "not_allowed"
        if not self._sent.claim(notice_id, message["user_id"], iso(self._clock())):
            return "duplicate"
        try:
            self._sms.send(message["phone"], message["text"])
        except Exception:
            self._sent.release(notice_id, message["user_id"])
            raise
        return "sent"
