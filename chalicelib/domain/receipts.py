"""E-receipts: made once a payment succeeds, fetched through short links, verifiable by anyone with the code."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from chalicelib.domain.billing import Bill
from chalicelib.domain.payments import Payment, Receipt, receipt_code
from chalicelib.errors import NotFound


class ReceiptStore(Protocol):
    def put(self, key: str, pdf: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...

    def link(self, key: str) -> str: ...


@dataclass(frozen=True)
class ReceiptDocument:
    """What a receipt shows: the injected `render` turns it into a PDF."""

    receipt_no: str
    code: str
    verify_url: str
    community_name: str
    payer_name: str
    method: str
    provider_txn_id: str
    paid_at: str
    amount_cents: int
    bills: tuple[Bill, ...]


def verify_url(base: str, receipt_no: str, code: str) -> str:
    """The link a receipt's QR code opens (`GET /receipts/{receipt_no}/verify?code=`)."""
    return f"{base.rstrip('/')}/{quote(receipt_no)}/verify?code={quote(code)}"


@dataclass(frozen=True)
class ReceiptLink:
    receipt_no: str
    url: str
    expires_in: int


class ReceiptService:
    def __init__(self, payments: Any, bills: Any, accounts: Any, receipts: Any, store: ReceiptStore,
                 render: Callable[[ReceiptDocument], bytes], code_key: Callable[[], bytes], verify_base: str,
                 link_seconds: int):
        self._payments = payments
        self._bills = bills
        self._accounts = accounts
        self._receipts = receipts
        self._store = store
        self._render = render
        self._code_key = code_key
        self._verify_base = verify_base
        self._link_seconds = link_seconds

    def make(self, payment_id: str) -> bool:
        """Render and store the receipt of a succeeded payment (idempotent: the key is the receipt number)."""
        payment = self._payments.get(payment_id)
        if payment is None or payment.status != "succeeded" or not payment.receipt_no:
            return False
        receipt: Receipt | None = self._receipts.get(payment.receipt_no)
        if receipt is None:
            return False
        bills = self._bills.get_many(list(payment.bill_ids))
        payer = self._accounts.get(payment.user_id)
        code = receipt_code(self._code_key(), receipt.receipt_no)
        document = ReceiptDocument(receipt.receipt_no, code, verify_url(self._verify_base, receipt.receipt_no, code),
                                   receipt.community_name, payer.name if payer else "", payment.method,
                                   payment.provider_txn_id or "", receipt.paid_at, receipt.amount_cents,
                                   tuple(bills[b] for b in payment.bill_ids if b in bills))
        self._store.put(receipt.object_key, self._render(document))
        self._payments.mark_receipt_ready(payment.payment_id)
        return True

    def link(self, payment: Payment) -> ReceiptLink:
        """A short-lived link to the PDF; made on the spot if the worker has not got to it yet."""
        receipt = self._receipts.get(payment.receipt_no)
        if receipt is None:
            raise NotFound()
        if not payment.receipt_ready and not self._store.exists(receipt.object_key):
            self.make(payment.payment_id)
        return ReceiptLink(receipt.receipt_no, self._store.link(receipt.object_key), self._link_seconds)

    def verify(self, receipt_no: str, code: str) -> Receipt:
        receipt = self._receipts.get(receipt_no)
        if receipt is None or not hmac.compare_digest(receipt_code(self._code_key(), receipt_no), code):
            raise NotFound()
        return receipt
