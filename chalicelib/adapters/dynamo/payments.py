"""DynamoDB repositories of payments and receipts: each state change is one conditional transaction with the
bills it holds or pays, its ledger entry and its audit event."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import is_conditional_failure
from chalicelib.adapters.dynamo.billing import _by_owner, change_bills, summary_entry
from chalicelib.adapters.dynamo.billing_models import (
    BillModel,
    LedgerEntryModel,
    OwnerBillSummaryModel,
    PaymentModel,
    PaymentSettingsModel,
    ReceiptModel,
    RefundModel,
)
from chalicelib.adapters.dynamo.models import AuditEventModel
from chalicelib.adapters.dynamo.repositories import connection
from chalicelib.domain.billing import Bill
from chalicelib.domain.model import AuditEvent
from chalicelib.domain.payments import BillsUnavailable, Notice, Payment, PaymentQuery, Receipt, pending_shard
from chalicelib.domain.ports import Page
from chalicelib.domain.refunds import Refund, refund_shard


def _payment(m: PaymentModel) -> Payment:
    return Payment(m.payment_id, m.user_id, tuple(m.bill_ids), tuple(m.unit_ids), m.community_id, m.amount_cents,
                   m.method, m.provider, m.status, m.created_at, int(m.expires_at), m.provider_txn_id, m.paid_at,
                   m.receipt_no, bool(m.receipt_ready), bool(m.refund_case), m.channel or "",
                   json.loads(m.provider_payload) if m.provider_payload else None, m.refunded_cents or 0,
                   m.refund_reserved_cents or 0, m.reference, m.recorded_by)


UNVERIFIED = "u"  # pending-by-expiry partitions of expired payments the provider was not asked about


def _audit(event: AuditEvent, suffix: str) -> AuditEventModel:
    # A deterministic sort key: written inside the state change's transaction, so it exists exactly once.
    return AuditEventModel(event.user_id, f"{event.at}#{suffix}", at=event.at, action=event.action,
                           summary=event.summary, ref=event.ref)


class DynamoPayments:
    def get(self, payment_id: str) -> Payment | None:
        try:
            return _payment(PaymentModel.get(payment_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_user(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[Payment]:
        result = PaymentModel.by_user.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items = [_payment(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)

    def create(self, payment: Payment, bills: list[Bill], event: AuditEvent) -> None:
        model = PaymentModel(
            payment.payment_id, user_id=payment.user_id, created_payment=f"{payment.created_at}#{payment.payment_id}",
            bill_ids=list(payment.bill_ids), unit_ids=list(payment.unit_ids), community_id=payment.community_id,
            amount_cents=payment.amount_cents, method=payment.method, provider=payment.provider, status="pending",
            created_at=payment.created_at, expires_at=payment.expires_at,
            pending_shard=pending_shard(payment.payment_id), channel=payment.channel or None,
            reference=payment.reference, recorded_by=payment.recorded_by)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(model, condition=PaymentModel.payment_id.does_not_exist())
                change_bills(tx, bills, "processing",
                             {"payment_id": payment.payment_id, "hold_until": payment.expires_at},
                             BillModel.status == "unpaid")
                tx.save(_audit(event, f"{payment.payment_id}#created"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise BillsUnavailable() from None
            raise

    def _end(self, payment: Payment, status: str, at: str, event: AuditEvent, unverified: bool = False) -> bool:
        # Bills still held by this payment go back to unpaid in the same transaction. A bill the payment no
        # longer holds (already released) would cancel it, so only held ones are included.
        held = [b for b in BillModel.batch_get(list(payment.bill_ids), consistent_read=True)
                if b.status == "processing" and b.payment_id == payment.payment_id]
        try:
            with TransactWrite(connection=connection()) as tx:
                # An expiry the provider was not asked about stays in the sparse index, in its own partitions
                # ("u<shard>"), for the reconciliation (one index serves both: a table gains one GSI per update).
                shard = PaymentModel.pending_shard.set(UNVERIFIED + pending_shard(payment.payment_id)) \
                    if unverified else PaymentModel.pending_shard.remove()
                tx.update(PaymentModel(payment.payment_id), actions=[
                    PaymentModel.status.set(status), shard,
                    PaymentModel.ended_at.set(at)], condition=PaymentModel.status == "pending")
                change_bills(tx, held, "unpaid", {"payment_id": None, "hold_until": None},
                             (BillModel.status == "processing") & (BillModel.payment_id == payment.payment_id))
                tx.save(_audit(event, f"{payment.payment_id}#{status}"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def expire(self, payment: Payment, at: str, event: AuditEvent, unverified: bool = False) -> bool:
        return self._end(payment, "expired", at, event, unverified)

    def expired_unverified(self, shard: int) -> list[Payment]:
        return [p for p in (_payment(m) for m in PaymentModel.pending_by_expiry.query(UNVERIFIED + str(shard)))
                if p.status == "expired"]

    def mark_verified(self, payment_id: str) -> None:
        try:
            PaymentModel(payment_id).update(actions=[PaymentModel.pending_shard.remove()],
                                            condition=PaymentModel.status != "pending")
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise

    def fail(self, payment: Payment, at: str, event: AuditEvent) -> bool:
        return self._end(payment, "failed", at, event)

    def complete(self, payment: Payment, notice: Notice, receipt: Receipt, event: AuditEvent) -> str:
        bills = {b.bill_id: b for b in BillModel.batch_get(list(payment.bill_ids), consistent_read=True)}
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(PaymentModel(payment.payment_id), actions=[
                    PaymentModel.status.set("succeeded"), PaymentModel.pending_shard.remove(),
                    PaymentModel.provider_txn_id.set(notice.provider_txn_id), PaymentModel.paid_at.set(receipt.paid_at),
                    PaymentModel.receipt_no.set(receipt.receipt_no)],
                    condition=PaymentModel.status.is_in("pending", "expired", "failed")
                    & (PaymentModel.refund_case == False))  # noqa: E712
                change_bills(tx, [bills[bill_id] for bill_id in payment.bill_ids], "paid",
                             {"paid_at": receipt.paid_at, "payment_id": payment.payment_id, "hold_until": None},
                             ((BillModel.status == "processing") & (BillModel.payment_id == payment.payment_id))
                             | (BillModel.status == "unpaid"))
                tx.save(LedgerEntryModel(payment.payment_id, "captured", amount_cents=payment.amount_cents,
                                         provider=notice.provider, provider_txn_id=notice.provider_txn_id,
                                         at=receipt.paid_at), condition=LedgerEntryModel.entry.does_not_exist())
                tx.save(ReceiptModel(receipt.receipt_no, payment_id=receipt.payment_id,
                                     amount_cents=receipt.amount_cents, paid_at=receipt.paid_at,
                                     community_name=receipt.community_name, object_key=receipt.object_key),
                        condition=ReceiptModel.receipt_no.does_not_exist())
                tx.save(_audit(event, f"{payment.payment_id}#succeeded"))
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            current = self.get(payment.payment_id)
            if current is not None and current.status == "succeeded":
                return "duplicate"
            if current is not None and current.refund_case:
                return "refund_case"
            return "bills_taken"
        return "completed"

    def record_refund_case(self, payment: Payment, notice: Notice, at: str, event: AuditEvent) -> bool:
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(PaymentModel(payment.payment_id), actions=[
                    PaymentModel.refund_case.set(True), PaymentModel.provider_txn_id.set(notice.provider_txn_id),
                    PaymentModel.status.set("expired"), PaymentModel.pending_shard.remove()],
                    condition=PaymentModel.status != "succeeded")
                tx.save(LedgerEntryModel(payment.payment_id, f"refund_due#{notice.provider_txn_id}",
                                         amount_cents=payment.amount_cents, provider=notice.provider,
                                         provider_txn_id=notice.provider_txn_id, at=at),
                        condition=LedgerEntryModel.entry.does_not_exist())
                tx.save(_audit(event, f"{payment.payment_id}#refund"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        # Bills held by this (now dead) payment, if any, go back to unpaid.
        for b in BillModel.batch_get(list(payment.bill_ids), consistent_read=True):
            if b.status == "processing" and b.payment_id == payment.payment_id:
                try:
                    # one bill at a time, each with its owners' copies
                    with TransactWrite(connection=connection()) as tx:
                        change_bills(tx, [b], "unpaid", {"payment_id": None, "hold_until": None},
                                     (BillModel.status == "processing") & (BillModel.payment_id == payment.payment_id))
                except TransactWriteError as error:
                    if not is_conditional_failure(error):
                        raise
        return True

    def pending_due(self, shard: int, now_epoch: int) -> list[Payment]:
        return [_payment(m) for m in PaymentModel.pending_by_expiry.query(str(shard),
                                                                          PaymentModel.expires_at <= now_epoch)]

    def mark_receipt_ready(self, payment_id: str) -> None:
        PaymentModel(payment_id).update(actions=[PaymentModel.receipt_ready.set(True)])

    def set_payload(self, payment_id: str, payload: dict[str, Any]) -> None:
        PaymentModel(payment_id).update(actions=[PaymentModel.provider_payload.set(json.dumps(payload))],
                                        condition=PaymentModel.payment_id.exists())

    def ledger(self, payment_id: str) -> list[LedgerEntryModel]:
        return list(LedgerEntryModel.query(payment_id))

    def list_for_community(self, query: PaymentQuery, limit: int, start: dict[str, Any] | None) -> Page[Payment]:
        # "~" sorts after every character of a time and id: a bare end date includes its whole day
        low, high = query.created_from or "0", (query.created_to or "9999") + "~"
        filters = None
        if query.method:
            filters = PaymentModel.method == query.method
        if query.status:
            status = PaymentModel.status == query.status
            filters = status if filters is None else filters & status
        result = PaymentModel.by_community.query(
            query.community_id, PaymentModel.created_payment.between(low, high), filter_condition=filters,
            scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items = [_payment(m) for m in result]
        return Page(items, result.last_evaluated_key)


class DynamoReceipts:
    def get(self, receipt_no: str) -> Receipt | None:
        try:
            m = ReceiptModel.get(receipt_no)
        except DoesNotExist:
            return None
        return Receipt(m.receipt_no, m.payment_id, m.amount_cents, m.paid_at, m.community_name, m.object_key)


def _refund(m: RefundModel) -> Refund:
    return Refund(m.refund_id, m.payment_id, m.user_id, m.community_id, m.amount_cents, m.reason,
                  tuple(m.bill_ids or ()), m.status, m.requested_by, m.created_at, m.provider, m.provider_refund_id,
                  m.finished_at)


OPEN = ("requested", "pending")


class DynamoRefunds:
    """Refunds: each state change is one conditional transaction with the payment's amounts, the ledger, the
    refunded bills and the audit events."""

    def get(self, refund_id: str) -> Refund | None:
        try:
            return _refund(RefundModel.get(refund_id, consistent_read=True))
        except DoesNotExist:
            return None

    def for_payment(self, payment_id: str) -> list[Refund]:
        # The index is eventually consistent: each one is read again by key for its current state.
        ids = [m.refund_id for m in RefundModel.by_payment.query(payment_id)]
        return [r for r in (self.get(i) for i in ids) if r is not None]

    def reserve(self, refund: Refund, seen_reserved: int, event: AuditEvent) -> bool:
        seen = PaymentModel.refund_reserved_cents == seen_reserved
        if seen_reserved == 0:
            seen = seen | PaymentModel.refund_reserved_cents.does_not_exist()
        model = RefundModel(
            refund.refund_id, payment_id=refund.payment_id, created_refund=f"{refund.created_at}#{refund.refund_id}",
            user_id=refund.user_id, community_id=refund.community_id, amount_cents=refund.amount_cents,
            reason=refund.reason, bill_ids=list(refund.bill_ids), status=refund.status,
            requested_by=refund.requested_by, created_at=refund.created_at, provider=refund.provider,
            open_shard=refund_shard(refund.refund_id))
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(model, condition=RefundModel.refund_id.does_not_exist())
                tx.update(PaymentModel(refund.payment_id), actions=[
                    PaymentModel.refund_reserved_cents.set(seen_reserved + refund.amount_cents)],
                    condition=PaymentModel.payment_id.exists() & seen)
                tx.save(_audit(event, f"{refund.refund_id}#requested"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def mark_pending(self, refund_id: str, provider_refund_id: str | None) -> None:
        actions = [RefundModel.status.set("pending")]
        if provider_refund_id:
            actions.append(RefundModel.provider_refund_id.set(provider_refund_id))
        try:
            RefundModel(refund_id).update(actions=actions, condition=RefundModel.status == "requested")
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise

    def _finish(self, tx: TransactWrite, refund: Refund, status: str, at: str,
                provider_refund_id: str | None) -> None:
        actions = [RefundModel.status.set(status), RefundModel.open_shard.remove(), RefundModel.finished_at.set(at)]
        if provider_refund_id:
            actions.append(RefundModel.provider_refund_id.set(provider_refund_id))
        tx.update(RefundModel(refund.refund_id), actions=actions, condition=RefundModel.status.is_in(*OPEN))

    def settle(self, refund: Refund, bills: list[Bill], provider_refund_id: str | None, at: str,
               event: AuditEvent) -> bool:
        # Only bills this payment still pays go back to unpaid (one changed otherwise would cancel the refund).
        held = [b for b in BillModel.batch_get([b.bill_id for b in bills], consistent_read=True)
                if b.status == "paid" and b.payment_id == refund.payment_id] if bills else []
        try:
            with TransactWrite(connection=connection()) as tx:
                self._finish(tx, refund, "succeeded", at, provider_refund_id)
                tx.update(PaymentModel(refund.payment_id),
                          actions=[PaymentModel.refunded_cents.add(refund.amount_cents)])
                tx.save(LedgerEntryModel(refund.payment_id, f"refund#{refund.refund_id}",
                                         amount_cents=refund.amount_cents, provider=refund.provider,
                                         provider_txn_id=provider_refund_id or refund.refund_id, at=at),
                        condition=LedgerEntryModel.entry.does_not_exist())
                change_bills(tx, held, "unpaid", {"paid_at": None, "payment_id": None, "hold_until": None},
                             (BillModel.status == "paid") & (BillModel.payment_id == refund.payment_id))
                for owner_id, owned in _by_owner(held).items():
                    # open again in the owner's summary: the entry back, and no longer remembered as closed
                    tx.update(OwnerBillSummaryModel(owner_id), actions=[
                        OwnerBillSummaryModel.open_bills.add({summary_entry(b.bill_id, b.due_date, b.total_cents)
                                                              for b in owned}),
                        OwnerBillSummaryModel.closed_bills.delete({b.bill_id for b in owned})])
                tx.save(_audit(event, f"{refund.refund_id}#succeeded"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def fail(self, refund: Refund, at: str, event: AuditEvent) -> bool:
        try:
            with TransactWrite(connection=connection()) as tx:
                self._finish(tx, refund, "failed", at, None)
                tx.update(PaymentModel(refund.payment_id),
                          actions=[PaymentModel.refund_reserved_cents.add(-refund.amount_cents)])
                tx.save(_audit(event, f"{refund.refund_id}#failed"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def open_refunds(self, shard: int) -> list[Refund]:
        return [_refund(m) for m in RefundModel.open_refunds.query(str(shard))]

    def claim_sms(self, refund_id: str) -> bool:
        try:
            RefundModel(refund_id).update(actions=[RefundModel.sms_sent.set(True)],
                                          condition=RefundModel.sms_sent.does_not_exist()
                                          | (RefundModel.sms_sent == False))  # noqa: E712
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release_sms(self, refund_id: str) -> None:
        RefundModel(refund_id).update(actions=[RefundModel.sms_sent.set(False)])


class DynamoPaymentSettings:
    def limit_cents(self, community_id: str) -> int | None:
        try:
            return PaymentSettingsModel.get(community_id).refund_limit_cents
        except DoesNotExist:
            return None

    def set_limit(self, community_id: str, cents: int, by: str, at: str) -> None:
        PaymentSettingsModel(community_id, refund_limit_cents=cents, updated_at=at, updated_by=by).save()
