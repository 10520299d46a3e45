"""The payment service's rules (API.md §6) with in-memory fakes: holds, expiry, provider notices, receipts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.domain.billing import Bill, BillItem
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.payments import (
    PAYMENT_TTL_SECONDS,
    CallbackRejected,
    IdempotencyKeyReused,
    MethodUnavailable,
    Notice,
    Payment,
    PaymentService,
    payment_id_for,
    receipt_code,
)
from chalicelib.domain.receipts import ReceiptService
from chalicelib.errors import Conflict, NotFound
from tests.unit.billing_fakes import FakeBills, FakePayments, FakeProviders, FakeReceipts, FakeReceiptStore
from tests.unit.fakes import FakeAccounts, UtcClock

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ID_KEY = b"payment-id-key"
CODE_KEY = b"receipt-code-key"
O1 = Principal("o1", "owner", "s", frozenset(), frozenset({"unit1", "unit9"}), False)
O2 = Principal("o2", "owner", "s", frozenset(), frozenset({"unit2"}), False)




def bill(bill_id: str, unit_id: str, cents: int, community_id: str = "c1") -> Bill:
    return Bill(bill_id, unit_id, community_id, unit_id, "property", "2026-11",
                (BillItem("mgmt", "物业管理费", Decimal(1), "月", cents, cents),), "2026-12-16")


class Setup:
    def __init__(self) -> None:
        self.clock = UtcClock(NOW)
        self.bills = FakeBills()
        self.payments = FakePayments(self.bills)
        self.paid: list[str] = []
        self.service = PaymentService(self.bills, self.payments, FakeProviders("sandbox", "alipay"),
                                      lambda community_id: {"c1": "阳光小区"}.get(community_id, ""),
                                      lambda payment: self.paid.append(payment.payment_id), clock=self.clock)
        for b in (bill("bl_1", "unit1", 26500), bill("bl_2", "unit1", 4367), bill("bl_3", "unit2", 9900),
                  bill("bl_9", "unit9", 100, community_id="c9")):
            self.bills.create(b)
        self.accounts = FakeAccounts()
        self.accounts.create(Account("o1", "acco1", "王小明", "+8613800000001", "owner", "h", "x"))
        self.rendered: list = []
        self.store = FakeReceiptStore()
        self.receipts = ReceiptService(self.payments, self.bills, self.accounts, FakeReceipts(self.payments),
                                       self.store, self.render, lambda: CODE_KEY, "https://verify.example/r", 300)

    def render(self, document) -> bytes:
        self.rendered.append(document)
        return b"%PDF-1.4 receipt"

    def pay(self, key: str, *bill_ids: str, caller: Principal = O1, method: str = "sandbox") -> Payment:
        return self.service.create(caller, payment_id_for(ID_KEY, caller.user_id, key), bill_ids, method)

    def status(self, bill_id: str) -> str:
        return self.bills.items[bill_id].shown_status(int(self.clock.now.timestamp()))


def notice(payment: Payment, amount: int | None = None, txn: str = "txn1", succeeded: bool = True,
           provider: str | None = None) -> Notice:
    return Notice(provider or payment.provider, payment.payment_id, txn,
                  payment.amount_cents if amount is None else amount, succeeded)


@pytest.fixture
def s() -> Setup:
    return Setup()


# -- paying ---------------------------------------------------------------------------------------


def test_a_payment_is_the_sum_of_its_bills_and_holds_them_for_15_minutes(s):
    payment = s.pay("k1", "bl_1", "bl_2")
    assert payment.amount_cents == 26500 + 4367 and payment.status == "pending"
    assert payment.expires_at == int(NOW.timestamp()) + PAYMENT_TTL_SECONDS
    assert s.status("bl_1") == s.status("bl_2") == "processing"


def test_a_bill_in_a_pending_payment_cannot_be_put_in_a_second_one(s):
    s.pay("k1", "bl_1")
    with pytest.raises(Conflict) as refused:
        s.pay("k2", "bl_1", "bl_2")
    assert refused.value.code == "bill_in_payment"
    assert s.status("bl_2") == "unpaid" and len(s.payments.items) == 1


def test_a_paid_bill_cannot_be_paid_again(s):
    first = s.pay("k1", "bl_1")
    s.service.handle_notice(notice(first))
    with pytest.raises(Conflict) as refused:
        s.pay("k2", "bl_1")
    assert refused.value.code == "bill_already_paid" and len(s.payments.items) == 1


def test_someone_elses_bill_is_not_found_and_nothing_is_held(s):
    with pytest.raises(NotFound):
        s.pay("k1", "bl_1", "bl_3")
    assert s.status("bl_1") == s.status("bl_3") == "unpaid"


def test_bills_of_different_communities_are_paid_separately(s):
    with pytest.raises(Conflict):
        s.pay("k1", "bl_1", "bl_9")
    assert s.status("bl_1") == "unpaid"


def test_an_unavailable_method_is_refused(s):
    with pytest.raises(MethodUnavailable):
        s.pay("k1", "bl_1", method="wechat")
    assert s.status("bl_1") == "unpaid"


def test_a_retry_with_the_same_key_returns_the_same_payment_and_another_request_is_refused(s):
    first = s.pay("k1", "bl_1")
    assert s.pay("k1", "bl_1") == first and len(s.payments.items) == 1
    with pytest.raises(IdempotencyKeyReused):
        s.pay("k1", "bl_1", "bl_2")
    with pytest.raises(NotFound):  # another owner can never reach the payment through a guessed id
        s.service.create(O2, first.payment_id, ("bl_3",), "sandbox")


# -- expiry ---------------------------------------------------------------------------------------


def test_an_expired_payment_releases_its_bills(s):
    payment = s.pay("k1", "bl_1", "bl_2")
    s.clock.advance(PAYMENT_TTL_SECONDS - 1)
    assert s.service.sweep_expired() == {"expired": 0}
    s.clock.advance(1)
    assert s.service.sweep_expired() == {"expired": 1}
    assert s.service.get(O1, payment.payment_id).status == "expired"
    assert s.bills.items["bl_1"].status == s.bills.items["bl_2"].status == "unpaid"
    assert s.service.sweep_expired() == {"expired": 0}


def test_a_lapsed_hold_does_not_block_a_new_payment_before_the_sweep(s):
    old = s.pay("k1", "bl_1")
    s.clock.advance(PAYMENT_TTL_SECONDS)
    assert s.status("bl_1") == "unpaid"
    new = s.pay("k2", "bl_1")
    assert s.payments.items[old.payment_id].status == "expired"
    assert s.bills.items["bl_1"].payment_id == new.payment_id


def test_reading_a_lapsed_payment_expires_it(s):
    payment = s.pay("k1", "bl_1")
    s.clock.advance(PAYMENT_TTL_SECONDS + 60)
    assert s.service.get(O1, payment.payment_id).status == "expired"
    assert s.bills.items["bl_1"].status == "unpaid"


# -- provider notices -----------------------------------------------------------------------------


def test_a_success_notice_pays_the_bills_once_even_when_delivered_twice(s):
    payment = s.pay("k1", "bl_1", "bl_2")
    assert s.service.handle_notice(notice(payment)) == "completed"
    paid = s.service.get(O1, payment.payment_id)
    assert s.service.handle_notice(notice(payment)) == "duplicate"
    again = s.service.get(O1, payment.payment_id)
    assert paid.status == again.status == "succeeded" and again.receipt_no == paid.receipt_no
    assert s.bills.items["bl_1"].status == s.bills.items["bl_2"].status == "paid"
    assert s.payments.actions().count("payment.succeeded") == 1
    assert list(s.payments.ledger) == [(payment.payment_id, "captured")]


def test_a_notice_for_another_amount_is_rejected_and_changes_nothing(s):
    payment = s.pay("k1", "bl_1")
    with pytest.raises(CallbackRejected):
        s.service.handle_notice(notice(payment, amount=payment.amount_cents - 1))
    assert s.payments.items[payment.payment_id].status == "pending" and s.status("bl_1") == "processing"
    assert s.paid == [] and s.payments.ledger == {}


def test_a_notice_from_another_provider_is_rejected(s):
    payment = s.pay("k1", "bl_1")
    with pytest.raises(CallbackRejected):
        s.service.handle_notice(notice(payment, provider="alipay"))
    assert s.payments.items[payment.payment_id].status == "pending"


def test_a_failure_notice_fails_the_payment_and_releases_its_bills(s):
    payment = s.pay("k1", "bl_1")
    assert s.service.handle_notice(notice(payment, succeeded=False)) == "failed"
    assert s.payments.items[payment.payment_id].status == "failed" and s.status("bl_1") == "unpaid"


def test_a_late_success_for_an_expired_payment_still_pays_bills_nobody_else_paid(s):
    payment = s.pay("k1", "bl_1")
    s.clock.advance(PAYMENT_TTL_SECONDS)
    s.service.sweep_expired()
    assert s.service.handle_notice(notice(payment)) == "completed"
    assert s.bills.items["bl_1"].status == "paid" and s.bills.items["bl_1"].payment_id == payment.payment_id


def test_money_for_bills_paid_meanwhile_opens_a_refund_case_once(s):
    late = s.pay("k1", "bl_1")
    s.clock.advance(PAYMENT_TTL_SECONDS)
    winner = s.pay("k2", "bl_1")
    s.service.handle_notice(notice(winner, txn="txn-winner"))
    assert s.service.handle_notice(notice(late, txn="txn-late")) == "refund_case"
    assert s.service.handle_notice(notice(late, txn="txn-late")) == "refund_case"
    refunded = s.service.get(O1, late.payment_id)
    assert refunded.refund_case and refunded.status == "expired" and refunded.receipt_no is None
    assert s.bills.items["bl_1"].payment_id == winner.payment_id and s.bills.items["bl_1"].status == "paid"
    assert [k for k in s.payments.ledger if k[0] == late.payment_id] == [(late.payment_id, "refund_due#txn-late")]
    assert s.payments.actions().count("payment.refund_pending") == 1


# -- receipts -------------------------------------------------------------------------------------


def test_the_receipt_number_is_made_once_and_verifies_with_its_code(s):
    payment = s.pay("k1", "bl_1", "bl_2")
    s.service.handle_notice(notice(payment))
    receipt_no = s.service.paid_payment(O1, payment.payment_id).receipt_no
    assert re.fullmatch(r"R20261201\d{10}", receipt_no)
    assert s.paid == [payment.payment_id]
    assert s.receipts.make(payment.payment_id) and s.receipts.make(payment.payment_id)
    assert {d.receipt_no for d in s.rendered} == {receipt_no}
    document = s.rendered[0]
    assert (document.amount_cents, document.community_name, document.payer_name) == (30867, "阳光小区", "王小明")
    assert [b.bill_id for b in document.bills] == ["bl_1", "bl_2"]
    code = receipt_code(CODE_KEY, receipt_no)
    assert document.code == code and s.receipts.verify(receipt_no, code).payment_id == payment.payment_id
    with pytest.raises(NotFound):
        s.receipts.verify(receipt_no, "A" * len(code))


def test_a_duplicate_notice_before_the_receipt_is_ready_asks_for_it_again_without_a_new_number(s):
    payment = s.pay("k1", "bl_1")
    s.service.handle_notice(notice(payment))
    receipt_no = s.payments.items[payment.payment_id].receipt_no
    s.service.handle_notice(notice(payment))
    assert s.paid == [payment.payment_id, payment.payment_id]
    s.receipts.make(payment.payment_id)
    s.service.handle_notice(notice(payment))
    assert len(s.paid) == 2 and list(s.payments.receipts) == [receipt_no]


def test_a_receipt_link_makes_the_pdf_on_the_spot_when_the_worker_is_late(s):
    payment = s.pay("k1", "bl_1")
    s.service.handle_notice(notice(payment))
    paid = s.service.paid_payment(O1, payment.payment_id)
    link = s.receipts.link(paid)
    assert link.receipt_no == paid.receipt_no and link.expires_in == 300
    assert s.store.exists(f"receipts/{paid.receipt_no}.pdf") and len(s.rendered) == 1


def test_an_unpaid_payment_has_no_receipt(s):
    payment = s.pay("k1", "bl_1")
    with pytest.raises(Conflict) as refused:
        s.service.paid_payment(O1, payment.payment_id)
    assert refused.value.code == "not_paid" and not s.receipts.make(payment.payment_id)
