"""Fee reminders (issue 8): who gets one today, what it says, and the once-a-week, once-a-day guarantees.

At the scale of a large property company the limit is the SMS rate, not compute: the job pages through open
bills in a sparse, sharded index, one page per step and a bounded number of steps per invocation (continued on
the jobs queue), folds each page's owners' open bills into one text per owner, and hands the texts to a paced
sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain.jobs import Budget, JobProgress, Progress
from chalicelib.names import FEE_REMINDER_JOB, FEE_REMINDER_RUN_JOB

DUE_SOON_DAYS = 3
QUIET_DAYS = 7  # an owner reminded within the last 7 days is skipped
JOB_TIMEZONE = "Asia/Shanghai"
SHARDS = 16
PAGE_BILLS = 100  # open bills read per step (one index Query page; BatchGetItem takes 100 keys)


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
    unit_ids: frozenset[str] = frozenset()  # the units the account lists (its bills are read by unit)


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


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def reminder_text(due: OwnerDue) -> str:
    overdue = f"（其中{due.overdue}笔已逾期）" if due.overdue else ""
    return (f"【物业】您有{due.count}笔费用待缴{overdue}，合计{yuan(due.total_cents)}元，"
            "请登录业主App及时缴纳。如已缴纳请忽略本短信。")


@dataclass(frozen=True)
class LogEntry:
    """An owner's reminder record: the day of the last reminder, whether its text is still to be sent, and
    the step of that day's run that claimed it (None for claims made before runs had steps)."""

    day: str
    pending: bool
    step: int | None = None


class ReminderLog(JobProgress, Protocol):
    def recent(self, user_ids: list[str]) -> dict[str, LogEntry]:
        """The records of the users who have one."""

    def claim(self, user_id: str, day: str, quiet_since: str, step: int) -> bool:
        """Record today's reminder (claimed by `step`) unless one was made on or after `quiet_since`."""

    def start_send(self, user_id: str, day: str) -> bool:
        """Flip today's pending reminder to sending; False if it was already sent (never text twice)."""

    def release(self, user_id: str, day: str) -> None:
        """Put a reminder whose send failed back to pending, so a retry sends it."""


class ReminderSource(Protocol):
    def open_bills_page(self, limit: str, shard: str, start: dict[str, Any] | None,
                        size: int) -> tuple[list[OpenBill], dict[str, Any] | None]:
        """One page (at most `size`) of a shard's open bills due by `limit`, and where the next one starts."""

    def open_bills_of_owners(self, user_ids: set[str], limit: str) -> dict[str, list[OpenBill]]:
        """Every open bill of these owners (owners when it was billed) due by `limit`."""

    def owners_of_units(self, unit_ids: set[str]) -> dict[str, set[str]]: ...
    def recipients(self, user_ids: set[str]) -> dict[str, Recipient]: ...


class Outbox(Protocol):
    def send_many(self, kind: str, payloads: list[dict[str, Any]]) -> int: ...


class Continuations(Protocol):
    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None: ...


@dataclass
class ReminderSummary:
    """What one invocation did (a day's run is the sum of its invocations); owners are counted per page
    they appear on, and `seen_earlier` counts those an earlier step of the run already handled."""

    day: str
    status: str = "done"  # done | continued | stale | superseded
    step: int = 0  # the run's next step after this invocation
    pages: int = 0
    bills: int = 0
    owners: int = 0
    enqueued: int = 0
    resumed: int = 0
    seen_earlier: int = 0
    skipped_recent: int = 0
    skipped_opted_out: int = 0
    skipped_no_phone: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_id(day: str) -> str:
    """The progress record of a day's run."""
    return f"fee-reminders#{day}"


def next_position(shard: int, last_key: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the page after one of `shard` starts: further in the shard, the next shard, or nowhere."""
    if last_key is not None:
        return {"shard": shard, "start": last_key}
    return {"shard": shard + 1, "start": None} if shard + 1 < SHARDS else None


class FeeReminders:
    """Find who to remind today and enqueue their texts, one page of open bills per step, in as many
    invocations as it takes. Safe to re-run, retry or duplicate: nobody is texted twice, nobody is lost.

    A page's owners get a text covering all their open bills (read by unit), so an owner whose bills fall on
    several pages is reminded on the first and recognised on the others (the claim names its step).
    """

    def __init__(self, source: ReminderSource, log: ReminderLog, outbox: Outbox,
                 clock: Callable[[], datetime]):
        self._source = source
        self._log = log
        self._outbox = outbox
        self._clock = clock

    def run(self, *, dry_run: bool = False,
            progress: Callable[[int, int | None, str], None] | None = None,
            budget: Budget | None = None, jobs: Continuations | None = None) -> ReminderSummary:
        """Start (or pick up) today's run; with a budget, continue through `jobs` when it is spent."""
        day = business_today(self._clock()).isoformat()
        if dry_run:
            return self._dry_run(day, progress)
        start = {"shard": 0, "start": None}
        record = self._log.begin(run_id(day), start)
        if record.done:
            # Run again today (the schedule fired twice, an operator's re-run): another pass, its steps
            # numbered on, so it recognises every claim of the first as made by an earlier step.
            if not self._log.advance(run_id(day), record.step, start, False):
                return ReminderSummary(day, status="superseded", step=record.step)
            record = Progress(record.step + 1, start)
        return self._steps(day, record, budget or Budget.unlimited(), jobs, progress)

    def resume(self, day: str, step: int, *, budget: Budget, jobs: Continuations | None) -> ReminderSummary:
        """Continue the run of `day` from where its record stands (`step` is the one the message was sent
        for). A message redelivered after its invocation was cut off finds the record further on and picks
        up there; a duplicate running beside the live invocation loses the next `advance` and stops; once
        the run is done every message does nothing."""
        record = self._log.load(run_id(day))
        if record is None or record.done:
            return ReminderSummary(day, status="stale", step=step)
        return self._steps(day, record, budget, jobs, None)

    def _steps(self, day: str, record: Progress, budget: Budget, jobs: Continuations | None,
               progress: Callable[[int, int | None, str], None] | None) -> ReminderSummary:
        summary = ReminderSummary(day, step=record.step)
        step, position = record.step, record.state
        while budget.left():
            shard = int(position["shard"])
            bills, last_key = self._source.open_bills_page(self._limit(day), str(shard), position.get("start"),
                                                           PAGE_BILLS)
            self._remind(day, bills, step, summary, seen=None)
            following = next_position(shard, last_key)
            if not self._log.advance(run_id(day), step, following or {}, following is None):
                summary.status = "superseded"  # a duplicate of this invocation got there first: it goes on
                return summary
            step, summary.step, summary.pages = step + 1, step + 1, summary.pages + 1
            budget.step_done()
            if progress:
                progress(summary.pages, None, "reminding owners")
            if following is None:
                return summary
            position = following
        if jobs is None:
            raise ValueError("a bounded run needs a queue to continue on")
        jobs.send(FEE_REMINDER_RUN_JOB, {"day": day, "step": step})
        summary.status = "continued"
        return summary

    def _dry_run(self, day: str, progress: Callable[[int, int | None, str], None] | None) -> ReminderSummary:
        summary = ReminderSummary(day, dry_run=True)
        seen: set[str] = set()
        position: dict[str, Any] | None = {"shard": 0, "start": None}
        while position is not None:
            shard = int(position["shard"])
            bills, last_key = self._source.open_bills_page(self._limit(day), str(shard), position.get("start"),
                                                           PAGE_BILLS)
            self._remind(day, bills, summary.pages, summary, seen=seen)
            summary.pages += 1
            if progress:
                progress(summary.pages, None, "counting reminders")
            position = next_position(shard, last_key)
        return summary

    @staticmethod
    def _limit(day: str) -> str:
        return due_limit(date.fromisoformat(day))

    def _remind(self, day: str, bills: list[OpenBill], step: int, summary: ReminderSummary,
                seen: set[str] | None) -> None:
        """Claim and enqueue the reminders of one page's owners (`seen` set: a dry run, nothing written)."""
        summary.bills += len(bills)
        owners_of = self._source.owners_of_units({b.unit_id for b in bills})
        owner_ids = sorted({o for owners in owners_of.values() for o in owners})
        summary.owners += len(owner_ids)
        if not owner_ids:
            return
        quiet_since = (date.fromisoformat(day) - timedelta(days=QUIET_DAYS - 1)).isoformat()
        history = self._log.recent(owner_ids)
        wanted: list[str] = []
        for user_id in owner_ids:
            entry = history.get(user_id)
            if (seen is not None and user_id in seen) or (
                    entry is not None and entry.day == day and entry.step is not None and entry.step < step):
                summary.seen_earlier += 1  # reminded (or skipped) by an earlier page of this run
            elif entry is not None and entry.day == day and entry.pending:
                wanted.append(user_id)  # claimed by this step before it was cut off: enqueue again
            elif entry is not None and entry.day >= quiet_since:
                summary.skipped_recent += 1
            else:
                wanted.append(user_id)
            if seen is not None:
                seen.add(user_id)
        if not wanted:
            return
        recipients = self._source.recipients(set(wanted))
        dues = self._dues(wanted, day)
        batch: list[dict[str, Any]] = []
        for user_id in wanted:
            payload = self._payload(user_id, dues.get(user_id), recipients.get(user_id), history.get(user_id),
                                    day, quiet_since, step, summary, seen is not None)
            if payload is not None:
                batch.append(payload)
        if batch:
            self._outbox.send_many(FEE_REMINDER_JOB, batch)

    def _dues(self, user_ids: list[str], day: str) -> dict[str, OwnerDue]:
        """Everything each owner owes by the limit, over all their bills (not only this page's): read from the
        owners' summaries, one batch per 100 owners, whatever the number of their units."""
        today = date.fromisoformat(day)
        dues: dict[str, OwnerDue] = {}
        for user_id, bills in self._source.open_bills_of_owners(set(user_ids), self._limit(day)).items():
            for bill in bills:
                dues.setdefault(user_id, OwnerDue(user_id)).add(bill, today)
        return dues

    def _payload(self, user_id: str, due: OwnerDue | None, recipient: Recipient | None, last: LogEntry | None,
                 day: str, quiet_since: str, step: int, summary: ReminderSummary,
                 dry_run: bool) -> dict[str, Any] | None:
        if recipient is None or not recipient.phone:
            summary.skipped_no_phone += 1
            return None
        if not recipient.sms_reminders:
            summary.skipped_opted_out += 1
            return None
        if due is None or not due.count:
            return None  # paid between the index page and now
        payload = {"user_id": user_id, "day": day, "phone": recipient.phone, "text": reminder_text(due)}
        if last is not None and last.day == day and last.pending:
            # Claimed by this step in an attempt that stopped before its texts were enqueued: enqueue again;
            # the sender still sends at most once.
            summary.resumed += 1
            return payload
        if dry_run:
            summary.enqueued += 1
            return None
        if not self._log.claim(user_id, day, quiet_since, step):
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
