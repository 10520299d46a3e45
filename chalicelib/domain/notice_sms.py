"""Urgent notice SMS: one job pages the audience and queues one message per owner; a worker texts each once.

Fan-out: `fan_out(notice_id)` pages the community's units (`by-community` index), reads their owners' accounts
in batches, keeps the owners in the audience who did not opt out, and queues one message per owner in SQS
batches of 10, spaced by `DelaySeconds` so SNS sees at most `per_second` texts a second. SQS delays stop at
15 minutes, so a run queues at most 900 × `per_second` messages and re-queues itself to continue.

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
from chalicelib.domain.notices import JobQueue, Notice, NoticeStore, Reader, due_in_seconds, sms_text
from chalicelib.names import NOTICE_SMS_JOB

MAX_SQS_DELAY = 900
UNITS_PER_PAGE = 100


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


class SentLog(Protocol):
    def claim(self, notice_id: str, user_id: str, at: str) -> bool:
        """Record that this owner is being texted for this notice; False if someone already did."""

    def release(self, notice_id: str, user_id: str) -> None: ...


class SmsSender(Protocol):
    def allowed(self, phone: str) -> bool: ...

    def send(self, phone: str, text: str) -> str: ...


@dataclass
class FanOutResult:
    queued: int = 0
    skipped_opt_out: int = 0
    pages: int = 0
    continued: bool = False
    status: str = "done"


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

    def fan_out(self, notice_id: str, start: dict[str, Any] | None = None) -> FanOutResult:
        """Queue one SMS per owner in the notice's audience (idempotent: deliveries are deduplicated)."""
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
        window = MAX_SQS_DELAY * self._per_second
        seen: set[str] = set()
        position = start
        while True:
            readers, position = self._owners.owners_page(notice.community_id, position, UNITS_PER_PAGE)
            result.pages += 1
            batch = self._messages(notice, readers, seen, result)
            self._queue.send(batch)
            if position is None:
                return result
            if result.queued >= window:
                self._jobs.send(NOTICE_SMS_JOB, {"notice_id": notice_id, "start": position},
                                delay_seconds=MAX_SQS_DELAY)
                result.continued = True
                return result

    def _messages(self, notice: Notice, readers: Iterable[Reader], seen: set[str],
                  result: FanOutResult) -> list[SmsMessage]:
        text = sms_text(notice.title)
        out = []
        for reader in readers:
            if reader.user_id in seen or not notice.audience.includes(reader, notice.community_id):
                continue
            seen.add(reader.user_id)
            if not reader.sms_notices:
                result.skipped_opt_out += 1
                continue
            delay = min(result.queued // self._per_second, MAX_SQS_DELAY)
            out.append(SmsMessage(notice.notice_id, reader.user_id, reader.phone, text, delay))
            result.queued += 1
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
