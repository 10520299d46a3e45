"""Storage of fee reminders: the per-owner reminder log, and the reads the reminder job makes."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, table_meta, update_once
from chalicelib.adapters.dynamo.billing import open_bills_of
from chalicelib.adapters.dynamo.billing_models import BillModel, OwnerBillSummaryModel
from chalicelib.adapters.dynamo.jobs import DynamoJobProgress
from chalicelib.adapters.dynamo.models import AccountModel, UnitModel
from chalicelib.adapters.dynamo.repositories import notification_prefs
from chalicelib.domain.reminders import LogEntry, OpenBill, Recipient

BATCH_GET = 100
OPEN = ("unpaid", "processing")


class ReminderLogModel(Model):
    """One item per owner: the day of the last fee reminder and whether its text is still to be sent."""

    Meta = table_meta("fee-reminders")

    user_id = UnicodeAttribute(hash_key=True)
    last_day = UnicodeAttribute()  # YYYY-MM-DD (Asia/Shanghai)
    pending = BooleanAttribute(default=False)
    step = IntAttribute(null=True)  # the step of that day's run that claimed it


REMINDER_MODELS: list[type[Model]] = [ReminderLogModel]


def _chunks(items: list[Any], size: int = BATCH_GET) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


class DynamoReminderLog(DynamoJobProgress):
    """The per-owner log, and (through `DynamoJobProgress`) the progress record of each day's run."""

    def recent(self, user_ids: list[str]) -> dict[str, LogEntry]:
        found: dict[str, LogEntry] = {}
        for chunk in _chunks(user_ids):
            found |= {m.user_id: LogEntry(m.last_day, bool(m.pending), m.step)
                      for m in ReminderLogModel.batch_get(chunk)}
        return found

    def claim(self, user_id: str, day: str, quiet_since: str, step: int) -> bool:
        try:
            update_once(ReminderLogModel(user_id),
                        [ReminderLogModel.last_day.set(day), ReminderLogModel.pending.set(True),
                         ReminderLogModel.step.set(step)],
                        ReminderLogModel.user_id.does_not_exist() | (ReminderLogModel.last_day < quiet_since))
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def start_send(self, user_id: str, day: str) -> bool:
        try:
            update_once(ReminderLogModel(user_id), [ReminderLogModel.pending.set(False)],
                        (ReminderLogModel.last_day == day) & (ReminderLogModel.pending == True))  # noqa: E712
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release(self, user_id: str, day: str) -> None:
        try:
            ReminderLogModel(user_id).update(actions=[ReminderLogModel.pending.set(True)],
                                             condition=ReminderLogModel.last_day == day)
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise


class DynamoReminderSource:
    def open_bills_page(self, limit: str, shard: str, start: dict[str, Any] | None,
                        size: int) -> tuple[list[OpenBill], dict[str, Any] | None]:
        # "~" sorts after every bill id, so the range includes every bill due on `limit`.
        result = BillModel.unpaid_by_due.query(shard, BillModel.due_bill <= f"{limit}#~", limit=size,
                                               last_evaluated_key=start)
        bills = [OpenBill(m.bill_id, m.unit_id, m.total_cents, m.due_date) for m in result if m.status in OPEN]
        return bills, result.last_evaluated_key

    def open_bills_of_owners(self, user_ids: set[str], limit: str) -> dict[str, list[OpenBill]]:
        found: dict[str, list[OpenBill]] = {}
        for chunk in _chunks(sorted(user_ids)):
            for m in OwnerBillSummaryModel.batch_get(chunk):
                # The summary does not name units: the reminder counts and adds up, it does not list flats.
                found[m.owner_id] = [OpenBill(b.bill_id, "", b.total_cents, b.due_date) for b in open_bills_of(m)
                                     if b.due_date <= limit]
        return found

    def owners_of_units(self, unit_ids: set[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for chunk in _chunks(sorted(unit_ids)):
            found |= {m.unit_id: set(m.owner_ids or ())
                      for m in UnitModel.batch_get(chunk, attributes_to_get=["unit_id", "owner_ids"])}
        return found

    def recipients(self, user_ids: set[str]) -> dict[str, Recipient]:
        found = {}
        for chunk in _chunks(sorted(user_ids)):
            for m in AccountModel.batch_get(chunk):
                prefs = notification_prefs(m)
                found[m.user_id] = Recipient(m.user_id, m.phone, prefs.get("sms_reminders", True) is not False,
                                             frozenset(u.unit_id for u in m.units or ()))
        return found
