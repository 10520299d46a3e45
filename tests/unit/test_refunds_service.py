"""Refunds, the reconciliation and front-desk payments with in-memory fakes and a scripted provider."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.jobs import Budget
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.payments import (
    PAYMENT_TTL_SECONDS,
    IdempotencyKeyReused,
    Notice,
    OfflineEntry,
    PaymentService,
    RefundNotice,
    payment_id_for,
)
from chalicelib.domain.refunds import (
    DEFAULT_REFUND_LIMIT_CENTS,
    RefundAsk,
    RefundExceedsPayment,
    RefundLimitExceeded,
    RefundNotifier,
    RefundService,
    late_refund_id,
)
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from tests.unit.billing_fakes import FakeBills, FakePayments
from tests.unit.fakes import FakeAccounts, UtcClock
from tests.unit.refund_fakes import FakeLimits, FakeRefunds, ScriptedProvider, ScriptedRegistry
from tests.unit.test_payments_service import ID_KEY, NOW, O1, bill

STAFF = Principal("st1", "staff", "s", frozenset({"c1"}), frozenset(), False)
OTHER_STAFF = Principal("st2", "staff", "s", frozenset({"c2"}), frozenset(), False)
ADMIN = Principal("ad1", "admin", "s", frozenset(), frozenset(), False)


class Communities:
    def get_community(self, community_id: str):
        return object() if community_id in ("c1", "c9") else None


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> str:
        self.sent.append((phone, text))
        return "m1"


class World:
    def __init__(self) -> None:
        self.clock = UtcClock(NOW)
        self.bills = FakeBills()
        self.payments = FakePayments(self.bills)
        self.refunds = FakeRefunds(self.payments)
        self.limits = FakeLimits()
        self.provider = ScriptedProvider()
        registry = ScriptedRegistry(self.provider)
        self.receipts: list[str] = []
        self.refunded: list[str] = []
        self.refund_service = RefundService(self.payments, self.bills, self.refunds, self.limits, registry,
                                            Communities(), lambda r: self.refunded.append(r.refund_id),
                                            clock=self.clock)
        self.service = PaymentService(self.bills, self.payments, registry, lambda c: "阳光小区",
                                      lambda p: self.receipts.append(p.payment_id), clock=self.clock,
                                      on_refund_due=self.refund_service.refund_late_payment)
        for b in (bill("bl_1", "unit1", 26500), bill("bl_2", "unit1", 4367), bill("bl_3", "unit1", 1000)):
            self.bills.create(replace(b, owner_ids=frozenset({"o1"})))

    def paid(self, *bill_ids: str, key: str = "k1"):
        payment = self.service.create(O1, payment_id_for(ID_KEY, "o1", key), bill_ids, "sandbox")
        assert self.service.handle_notice(Notice("sandbox", payment.payment_id, "txn_" + key,
                                                 payment.amount_cents, True)) == "completed"
        return self.payments.get(payment.payment_id)

    def refund(self, payment_id: str, amount: int, *bill_ids: str, caller: Principal = STAFF, key: str = "r1"):
        return self.refund_service.request(caller, payment_id, f"rf_{key}", RefundAsk(amount, "重复收费", bill_ids))


@pytest.fixture
def w() -> World:
    return World()


# -- refunds --------------------------------------------------------------------------------------


def test_refund_partial_with_bills_reopens_them_and_records_once(w):
    payment = w.paid("bl_1", "bl_2")
    refund = w.refund(payment.payment_id, 4367, "bl_2")
    assert refund.status == "succeeded"
    assert w.bills.items["bl_2"].status == "unpaid" and w.bills.items["bl_1"].status == "paid"
    assert w.payments.get(payment.payment_id).refunded_cents == 4367
    assert w.refunded == [refund.refund_id]
    assert "payment.refunded" in w.payments.actions()
    # the same request again: the same refund, nothing more
    assert w.refund(payment.payment_id, 4367, "bl_2") == refund
    assert w.provider.made("refund") == [refund.refund_id]
    assert [e for e in w.payments.ledger if e[1].startswith("refund#")] == [(payment.payment_id, "refund#rf_r1")]


def test_refund_money_only_leaves_bills_paid(w):
    payment = w.paid("bl_1")
    w.refund(payment.payment_id, 500)
    assert w.bills.items["bl_1"].status == "paid"
    assert w.payments.get(payment.payment_id).refunded_cents == 500


def test_refund_never_exceeds_what_was_paid(w):
    payment = w.paid("bl_1")
    w.refund(payment.payment_id, 26000, key="a")
    with pytest.raises(RefundExceedsPayment):
        w.refund(payment.payment_id, 501, key="b")
    assert w.refund(payment.payment_id, 500, key="c").status == "succeeded"
    assert w.payments.get(payment.payment_id).refunded_cents == 26500


def test_refund_failed_at_the_provider_frees_its_amount(w):
    payment = w.paid("bl_1")
    w.provider.refund_answers = ["failed"]
    assert w.refund(payment.payment_id, 26500, key="a").status == "failed"
    assert w.payments.get(payment.payment_id).refunded_cents == 0
    w.provider.refund_answers = ["succeeded"]
    assert w.refund(payment.payment_id, 26500, key="b").status == "succeeded"


def test_refund_above_the_limit_needs_an_admin(w):
    payment = w.paid("bl_1")
    w.refund_service.set_limit(ADMIN, "c1", 10_000)
    with pytest.raises(RefundLimitExceeded):
        w.refund(payment.payment_id, 10_001)
    assert w.refunds.items == {} and w.provider.made("refund") == []
    assert w.refund(payment.payment_id, 10_001, caller=ADMIN).status == "succeeded"


def test_refund_limit_defaults_and_only_admins_set_it(w):
    assert w.refund_service.staff_limit(STAFF, "c1") == DEFAULT_REFUND_LIMIT_CENTS
    from chalicelib.errors import Forbidden

    with pytest.raises(Forbidden):
        w.refund_service.set_limit(STAFF, "c1", 1)
    with pytest.raises(NotFound):
        w.refund_service.set_limit(ADMIN, "nowhere", 1)


def test_refund_bad_input_changes_nothing(w):
    payment = w.paid("bl_1", "bl_2")
    with pytest.raises(ValidationFailed):
        w.refund(payment.payment_id, 100, "bl_2")  # not the bill's total
    with pytest.raises(ValidationFailed):
        w.refund(payment.payment_id, 1000, "bl_3")  # not a bill of this payment
    with pytest.raises(NotFound):
        w.refund(payment.payment_id, 100, caller=OTHER_STAFF)
    with pytest.raises(NotFound):
        w.refund("pay_nope", 100)
    w.refund(payment.payment_id, 4367, "bl_2", key="a")
    with pytest.raises(Conflict):
        w.refund(payment.payment_id, 4367, "bl_2", key="b")  # that bill is refunded already
    with pytest.raises(IdempotencyKeyReused):
        w.refund(payment.payment_id, 1, key="a")
    assert w.payments.get(payment.payment_id).refunded_cents == 4367


def test_refund_of_an_unpaid_payment_is_refused(w):
    payment = w.service.create(O1, "pay_x", ("bl_1",), "sandbox")
    with pytest.raises(Conflict) as error:
        w.refund(payment.payment_id, 1)
    assert error.value.code == "not_paid"


def test_refund_pending_is_completed_once_by_notice_and_query(w):
    payment = w.paid("bl_1")
    w.provider.refund_answers = ["pending"]
    refund = w.refund(payment.payment_id, 26500, "bl_1")
    assert refund.status == "pending" and w.bills.items["bl_1"].status == "paid"
    notice = RefundNotice("sandbox", refund.refund_id, payment.payment_id, "prov_x", 26500, "succeeded")
    assert w.refund_service.handle_notice(notice) == "succeeded"
    assert w.refund_service.handle_notice(notice) == "duplicate"
    w.provider.refund_answers = ["succeeded"]
    assert w.refund_service.reconcile(Budget.unlimited()) == {}  # nothing open any more
    assert w.payments.get(payment.payment_id).refunded_cents == 26500
    assert w.bills.items["bl_1"].status == "unpaid"
    assert w.refunded == [refund.refund_id]


def test_refund_notice_that_does_not_match_is_rejected(w):
    from chalicelib.domain.payments import CallbackRejected

    payment = w.paid("bl_1")
    w.provider.refund_answers = ["pending"]
    refund = w.refund(payment.payment_id, 100)
    for wrong in (RefundNotice("alipay", refund.refund_id, payment.payment_id, "p", 100, "succeeded"),
                  RefundNotice("sandbox", refund.refund_id, payment.payment_id, "p", 99, "succeeded"),
                  RefundNotice("sandbox", "rf_unknown", payment.payment_id, "p", 100, "succeeded")):
        with pytest.raises(CallbackRejected):
            w.refund_service.handle_notice(wrong)
    assert w.refunds.get(refund.refund_id).status == "pending"


def test_refund_unanswered_by_the_provider_is_asked_again_by_the_reconciliation(w):
    payment = w.paid("bl_1")
    w.provider.unreachable = True
    refund = w.refund(payment.payment_id, 100)
    assert refund.status == "requested"
    w.provider.unreachable = False
    assert w.refund_service.reconcile(Budget.unlimited()) == {"succeeded": 1}
    assert w.provider.made("refund") == [refund.refund_id, refund.refund_id]  # the same refund id: idempotent


def test_refund_pending_is_queried_by_the_reconciliation(w):
    payment = w.paid("bl_1")
    w.provider.refund_answers = ["pending", "pending", "failed"]
    refund = w.refund(payment.payment_id, 100)
    assert w.refund_service.reconcile(Budget.unlimited()) == {"pending": 1}
    assert w.refund_service.reconcile(Budget.unlimited()) == {"failed": 1}
    assert w.provider.made("query_refund") == [refund.refund_id] * 2
    assert w.payments.get(payment.payment_id).refund_reserved_cents == 0


def test_refund_sms_is_sent_once_in_chinese(w):
    payment = w.paid("bl_1")
    refund = w.refund(payment.payment_id, 4367)
    accounts = FakeAccounts()
    accounts.create(Account("o1", "acco1", "王小明", "+8613800000001", "owner", "h", "x"))
    sms = FakeSms()
    notifier = RefundNotifier(w.refunds, accounts, sms, w.refunds.claim_sms, w.refunds.release_sms)
    assert notifier.notify(refund.refund_id) is True
    assert notifier.notify(refund.refund_id) is False
    assert len(sms.sent) == 1 and "退款43.67元" in sms.sent[0][1]


# -- the late-notice case -------------------------------------------------------------------------


def test_late_notice_for_bills_paid_meanwhile_refunds_in_full_once(w):
    late = w.service.create(O1, "pay_late", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    w.service.sweep_expired()
    w.paid("bl_1", key="winner")
    notice = Notice("sandbox", late.payment_id, "txn_late", late.amount_cents, True)
    assert w.service.handle_notice(notice) == "refund_case"
    assert w.service.handle_notice(notice) == "refund_case"
    refund = w.refunds.get(late_refund_id(late.payment_id))
    assert refund is not None and refund.status == "succeeded" and refund.amount_cents == late.amount_cents
    assert w.provider.made("refund") == [refund.refund_id]
    assert w.bills.items["bl_1"].status == "paid"  # the winner's bill stays paid


# -- reconciliation -------------------------------------------------------------------------------


def test_reconciliation_applies_a_final_answer_like_its_notice(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS - 60)  # near expiry
    w.provider.answers[payment.payment_id] = Notice("sandbox", payment.payment_id, "txn_q", payment.amount_cents, True)
    summary = w.service.reconcile(Budget.unlimited())
    assert summary["completed"] == 1
    assert w.payments.get(payment.payment_id).status == "succeeded" and w.bills.items["bl_1"].status == "paid"
    # the notice racing the job changes nothing more
    assert w.service.handle_notice(w.provider.answers[payment.payment_id]) == "duplicate"
    assert list(w.payments.ledger) == [(payment.payment_id, "captured")]


def test_reconciliation_leaves_a_payment_far_from_expiry_alone(w):
    w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    assert w.service.reconcile(Budget.unlimited())["queried"] == 0
    assert w.provider.calls == []


def test_reconciliation_closes_a_lapsed_payment_before_expiring_it(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    assert w.service.reconcile(Budget.unlimited())["expired"] == 1
    assert [kind for kind, _ in w.provider.calls] == ["query", "close"]
    assert w.payments.get(payment.payment_id).status == "expired" and w.bills.items["bl_1"].status == "unpaid"


def test_reconciliation_does_not_expire_what_the_provider_could_not_close(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    w.provider.unreachable = True
    assert w.service.reconcile(Budget.unlimited())["errors"] == 1
    assert w.payments.get(payment.payment_id).status == "pending"


def test_reconciliation_a_failed_answer_fails_the_payment(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    w.provider.answers[payment.payment_id] = Notice("sandbox", payment.payment_id, "t", payment.amount_cents, False)
    assert w.service.reconcile(Budget.unlimited())["failed"] == 1
    assert w.payments.get(payment.payment_id).status == "failed" and w.bills.items["bl_1"].status == "unpaid"


def test_reconciliation_stops_when_the_budget_is_spent(w):
    for i, bill_id in enumerate(("bl_1", "bl_2", "bl_3")):
        w.service.create(O1, f"pay_{i}", (bill_id,), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    w.service.reconcile(Budget(None, max_steps=2))
    assert len(w.provider.made("query")) == 2
    w.service.reconcile(Budget.unlimited())
    assert all(p.status == "expired" for p in w.payments.items.values())


def test_reconciliation_finds_money_taken_for_a_payment_expired_on_read(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    assert w.service.get(O1, payment.payment_id).status == "expired"  # the read expired it, nobody asked
    w.provider.answers[payment.payment_id] = Notice("sandbox", payment.payment_id, "t", payment.amount_cents, True)
    assert w.service.reconcile(Budget.unlimited())["completed"] == 1
    assert w.payments.get(payment.payment_id).status == "succeeded" and w.bills.items["bl_1"].status == "paid"
    w.provider.calls.clear()
    w.service.reconcile(Budget.unlimited())
    assert w.provider.calls == []  # asked once


def test_reconciliation_closes_an_order_expired_on_read_once(w):
    payment = w.service.create(O1, "pay_a", ("bl_1",), "sandbox")
    w.clock.now += timedelta(seconds=PAYMENT_TTL_SECONDS + 1)
    w.service.get(O1, payment.payment_id)
    assert w.service.reconcile(Budget.unlimited())["verified"] == 1
    assert w.provider.calls == [("query", "pay_a"), ("close", "pay_a")]
    w.service.reconcile(Budget.unlimited())
    assert len(w.provider.calls) == 2
    assert w.payments.get(payment.payment_id).status == "expired"


# -- the front desk -------------------------------------------------------------------------------


def test_front_desk_payment_succeeds_at_once_for_the_bills_owner(w):
    entry = OfflineEntry(("bl_1", "bl_2"), "cash", "XJ-1")
    payment = w.service.record_offline(STAFF, "pay_desk", entry)
    assert payment.status == "succeeded" and payment.user_id == "o1" and payment.recorded_by == "st1"
    assert payment.reference == "XJ-1" and payment.provider_txn_id == "cash:XJ-1"
    assert w.bills.items["bl_1"].status == "paid" and w.receipts == ["pay_desk"]
    assert "payment.recorded" in w.payments.actions() and w.provider.calls == []
    assert w.service.record_offline(STAFF, "pay_desk", entry).payment_id == "pay_desk"
    with pytest.raises(IdempotencyKeyReused):
        w.service.record_offline(STAFF, "pay_desk", replace(entry, reference="XJ-2"))


def test_front_desk_payment_refund_is_recorded_without_a_provider(w):
    payment = w.service.record_offline(STAFF, "pay_desk", OfflineEntry(("bl_1",), "pos", "P-9"))
    refund = w.refund(payment.payment_id, 26500, "bl_1")
    assert refund.status == "succeeded" and w.provider.calls == []
    assert w.bills.items["bl_1"].status == "unpaid"


def test_front_desk_payment_only_for_the_callers_community_and_unpaid_bills(w):
    with pytest.raises(NotFound):
        w.service.record_offline(OTHER_STAFF, "pay_x", OfflineEntry(("bl_1",), "cash", "X"))
    w.paid("bl_1")
    with pytest.raises(Conflict) as error:
        w.service.record_offline(STAFF, "pay_y", OfflineEntry(("bl_1",), "cash", "Y"))
    assert error.value.code == "bill_already_paid"
    assert "pay_x" not in w.payments.items and "pay_y" not in w.payments.items


# -- card (issue 14 item 3) -----------------------------------------------------------------------


def test_card_without_an_acquirer_is_method_unavailable_and_holds_nothing(w):
    from chalicelib.adapters.payments.registry import Providers
    from chalicelib.domain.payments import MethodUnavailable

    registry = Providers({"alipay": ScriptedProvider("alipay")}, sandbox_for_all=False)
    with pytest.raises(MethodUnavailable) as error:
        registry.for_method("card")
    assert error.value.code == "method_unavailable"
    service = PaymentService(w.bills, w.payments, registry, lambda c: "", lambda p: None, clock=w.clock)
    with pytest.raises(MethodUnavailable):
        service.create(O1, "pay_card", ("bl_1",), "card")
    assert w.payments.items == {} and w.bills.items["bl_1"].status == "unpaid"
