"""DynamoDB repositories of payments and receipts: each state change is one conditional transaction with the
bills it holds or pays, its ledger entry and its audit event."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import is_conditional_failure
from chalicelib.adapters.dynamo.billing import change_bills
from chalicelib.adapters.dynamo.billing_models import BillModel, LedgerEntryModel, PaymentModel, ReceiptModel
from chalicelib.adapters.dynamo.models import AuditEventModel
from chalicelib.adapters.dynamo.repositories import connection
from chalicelib.domain.billing import Bill
from chalicelib.domain.model import AuditEvent
from chalicelib.domain.payments import BillsUnavailable, Notice, Payment, Receipt, pending_shard
from chalicelib.domain.ports import Page


def _payment(m: PaymentModel) -> Payment:
    return Payment(m.payment_id, m.user_id, tuple(m.bill_ids), tuple(m.unit_ids), m.community_id, m.amount_cents,
                   m.method, m.provider, m.status, m.created_at, int(m.expires_at), m.provider_txn_id, m.paid_at,
                   m.receipt_no, bool(m.receipt_ready), bool(m.refund_case), m.channel or "",
                   json.loads(m.provider_payload) if m.provider_payload else None)


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
            pending_shard=pending_shard(payment.payment_id), channel=payment.channel or None)
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

    def _end(self, payment: Payment, status: str, at: str, event: AuditEvent) -> bool:
        # Bills still held by this payment go back to unpaid in the same transaction. A bill the payment no
        # longer holds (already released) would cancel it, so only held ones are included.
        held = [b for b in BillModel.batch_get(list(payment.bill_ids), consistent_read=True)
                if b.status == "processing" and b.payment_id == payment.payment_id]
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(PaymentModel(payment.payment_id), actions=[
                    PaymentModel.status.set(status), PaymentModel.pending_shard.remove(),
                    PaymentModel.ended_at.set(at)], condition=PaymentModel.status == "pending")
                change_bills(tx, held, "unpaid", {"payment_id": None, "hold_until": None},
                             (BillModel.status == "processing") & (BillModel.payment_id == payment.payment_id))
                tx.save(_audit(event, f"{payment.payment_id}#{status}"))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def expire(self, payment: Payment, at: str, event: AuditEvent) -> bool:
        return self._end(payment, "expired", at, event)

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


class DynamoReceipts:
    def get(self, receipt_no: str) -> Receipt | None:
        try:
            m = ReceiptModel.get(receipt_no)
        except DoesNotExist:
            return None
        return Receipt(m.receipt_no, m.payment_id, m.amount_cents, m.paid_at, m.community_name, m.object_key)
