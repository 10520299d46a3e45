"""Storage of fee reminders: the per-owner reminder log, and the reads the reminder job makes."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo.base import Model, is_conditional_failure, table_meta, update_once
from chalicelib.adapters.dynamo.billing_models import BillModel
from chalicelib.adapters.dynamo.models import AccountModel, UnitModel
from chalicelib.adapters.dynamo.repositories import notification_prefs
from chalicelib.domain.reminders import OpenBill, Recipient


class ReminderLogModel(Model):
    """One item per owner: the day of the last fee reminder and whether its text is still to be sent."""

    Meta = table_meta("fee-reminders")

    user_id = UnicodeAttribute(hash_key=True)
    last_day = UnicodeAttribute()  # YYYY-MM-DD (Asia/Shanghai)
    pending = BooleanAttribute(default=False)


REMINDER_MODELS: list[type[Model]] = [ReminderLogModel]


class DynamoReminderLog:
    def recent(self, user_ids: list[str]) -> dict[str, tuple[str, bool]]:
        if not user_ids:
            return {}
        return {m.user_id: (m.last_day, bool(m.pending)) for m in ReminderLogModel.batch_get(user_ids)}

    def claim(self, user_id: str, day: str, quiet_since: str) -> bool:
        try:
            update_once(ReminderLogModel(user_id),
                        [ReminderLogModel.last_day.set(day), ReminderLogModel.pending.set(True)],
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
    def open_bills_due_by(self, limit: str, shard: str) -> Iterable[OpenBill]:
        # "~" sorts after every bill id, so the range includes every bill due on `limit`.
        for m in BillModel.unpaid_by_due.query(shard, BillModel.due_bill <= f"{limit}#~"):
            if m.status in ("unpaid", "processing"):
                yield OpenBill(m.bill_id, m.unit_id, m.total_cents, m.due_date)

    def owners_of_units(self, unit_ids: set[str]) -> dict[str, set[str]]:
        if not unit_ids:
            return {}
        return {m.unit_id: set(m.owner_ids or ()) for m in UnitModel.batch_get(list(unit_ids),
                                                                             attributes_to_get=["unit_id",
                                                                                                "owner_ids"])}

    def recipients(self, user_ids: set[str]) -> dict[str, Recipient]:
        if not user_ids:
            return {}
        found = {}
        for m in AccountModel.batch_get(list(user_ids)):
            prefs = notification_prefs(m)
            found[m.user_id] = Recipient(m.user_id, m.phone, prefs.get("sms_reminders", True) is not False)
        return found
