"""Fee reminders (issue 8): who gets one today, what it says, and the once-a-week, once-a-day guarantees.

At the scale of a large property company the limit is the SMS rate, not compute: the job finds open bills
through a sparse, sharded index, folds them into one text per owner, and hands the texts to a paced sender.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chalicelib.names import FEE_REMINDER_JOB

DUE_SOON_DAYS = 3
QUIET_DAYS = 7  # an owner reminded within the last 7 days is skipped
JOB_TIMEZONE = "Asia/Shanghai"
SHARDS = 16


@dataclass(frozen=True)
class OpenBill:
    bill_id: str
    unit_id: str
    total_cents: int
    due_date: str  # YYYY-MM-DD, in the community's time zone


@dataclass(frozen=True)
class Recipient:
    user_id: str
    phone: str
    sms_reminders: bool


@dataclass
class OwnerDue:
    """Everything one owner owes that is overdue or due soon: the content of one text."""

    user_id: str
    bill_ids: set[str] = field(default_factory=set)
    total_cents: int = 0
    overdue: int = 0

    def add(self, bill: OpenBill, today: date) -> None:
        if bill.bill_id in self.bill_ids:
            return
        self.bill_ids.add(bill.bill_id)
        self.total_cents += bill.total_cents
        if date.fromisoformat(bill.due_date) < today:
            self.overdue += 1

    @property
    def count(self) -> int:
        return len(self.bill_ids)


def business_today(now: datetime, timezone: str = JOB_TIMEZONE) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def due_limit(today: date) -> str:
    """Bills due on or before this date are reminded: overdue ones and those due within 3 days."""
    return (today + timedelta(days=DUE_SOON_DAYS)).isoformat()


def aggregate(bills: Iterable[OpenBill], owners_of: dict[str, Iterable[str]], today: date) -> dict[str, OwnerDue]:
    """Fold bills into one entry per owner (an owner of several units gets one text; co-owners each get one)."""
    dues: dict[str, OwnerDue] = {}
    for bill in bills:
        for owner in owners_of.get(bill.unit_id, ()):
            dues.setdefault(owner, OwnerDue(owner)).add(bill, today)
    return dues


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def reminder_text(due: OwnerDue) -> str:
    overdue = f"（其中{due.overdue}笔已逾期）" if due.overdue else ""
    return (f"【物业】您有{due.count}笔费用待缴{overdue}，合计{yuan(due.total_cents)}元，"
            "请登录业主App及时缴纳。如已缴纳请忽略本短信。")


class ReminderLog(Protocol):
    def recent(self, user_ids: list[str]) -> dict[str, tuple[str, bool]]:
        """For each user with a record: (last reminder day, still pending send)."""

    def claim(self, user_id: str, day: str, quiet_since: str) -> bool:
        """Record today's reminder unless one was made on or after `quiet_since`; False if not claimed."""

    def start_send(self, user_id: str, day: str) -> bool:
        """Flip today's pending reminder to sending; False if it was already sent (never text twice)."""

    def release(self, user_id: str, day: str) -> None:
        """Put a reminder whose send failed back to pending, so a retry sends it."""


class ReminderSource(Protocol):
    def open_bills_due_by(self, limit: str, shard: str) -> Iterable[OpenBill]: ...
    def owners_of_units(self, unit_ids: set[str]) -> dict[str, set[str]]: ...
    def recipients(self, user_ids: set[str]) -> dict[str, Recipient]: ...


class Outbox(Protocol):
    def send_many(self, kind: str, payloads: list[dict[str, Any]]) -> int: ...


@dataclass
class ReminderSummary:
    day: str
    bills: int = 0
    owners: int = 0
    enqueued: int = 0
    resumed: int = 0
    skipped_recent: int = 0
    skipped_opted_out: int = 0
    skipped_no_phone: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FeeReminders:
    """Find who to remind today and enqueue their texts. Safe to re-run: nobody is texted twice."""

    def __init__(self, source: ReminderSource, log: ReminderLog, outbox: Outbox,
                 clock: Callable[[], datetime]):
        self._source = source
        self._log = log
        self._outbox = outbox
        self._clock = clock

    def run(self, *, dry_run: bool = False,
            progress: Callable[[int, int | None, str], None] | None = None) -> ReminderSummary:
        today = business_today(self._clock())
        summary = ReminderSummary(today.isoformat(), dry_run=dry_run)
        bills: list[OpenBill] = []
        for shard in range(SHARDS):
            bills.extend(self._source.open_bills_due_by(due_limit(today), str(shard)))
            if progress:
                progress(shard + 1, SHARDS, "finding bills")
        summary.bills = len(bills)
        dues = aggregate(bills, self._source.owners_of_units({b.unit_id for b in bills}), today)
        summary.owners = len(dues)
        owner_ids = sorted(dues)
        quiet_since = (today - timedelta(days=QUIET_DAYS - 1)).isoformat()
        batch: list[dict[str, Any]] = []
        for start in range(0, len(owner_ids), 100):
            chunk = owner_ids[start:start + 100]
            recipients = self._source.recipients(set(chunk))
            history = self._log.recent(chunk)
            for user_id in chunk:
                payload = self._payload(user_id, dues[user_id], recipients.get(user_id), history.get(user_id),
                                        today.isoformat(), quiet_since, summary, dry_run)
                if payload is not None:
                    batch.append(payload)
            if not dry_run and batch:
                self._outbox.send_many(FEE_REMINDER_JOB, batch)
                batch = []
            if progress:
                progress(min(start + 100, len(owner_ids)), len(owner_ids), "enqueueing reminders")
        return summary

    def _payload(self, user_id: str, due: OwnerDue, recipient: Recipient | None, last: tuple[str, bool] | None,
                 day: str, quiet_since: str, summary: ReminderSummary, dry_run: bool) -> dict[str, Any] | None:
        if recipient is None or not recipient.phone:
            summary.skipped_no_phone += 1
            return None
        if not recipient.sms_reminders:
            summary.skipped_opted_out += 1
            return None
        payload = {"user_id": user_id, "day": day, "phone": recipient.phone, "text": reminder_text(due)}
        if last is not None and last[0] == day and last[1]:
            # Claimed today by a run that stopped before its texts were sent: enqueue again; the sender
            # still sends at most once.
            summary.resumed += 1
            return payload
        if last is not None and last[0] >= quiet_since:
            summary.skipped_recent += 1
            return None
        if dry_run:
            summary.enqueued += 1
            return None
        if not self._log.claim(user_id, day, quiet_since):
            summary.skipped_recent += 1
            return None
        summary.enqueued += 1
        return payload


class ReminderSender:
    """The paced consumer: sends one reminder text, at most once per owner and day."""

    def __init__(self, log: ReminderLog, sms: Any):
        self._log = log
        self._sms = sms

    def send(self, payload: dict[str, Any]) -> bool:
        if not self._log.start_send(payload["user_id"], payload["day"]):
            return False
        try:
            self._sms.send(payload["phone"], payload["text"])
        except Exception:
            self._log.release(payload["user_id"], payload["day"])
            raise
        return True


def previous_period(now: datetime, timezone: str = JOB_TIMEZONE) -> str:
    """The billing period (YYYY-MM) that ended before `now` in the business time zone."""
    first = business_today(now, timezone).replace(day=1)
    last_month = first - timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"
