"""What a receipt says: the amount in Chinese capitals, the time in the community's zone, and the payee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.domain.billing import Bill, BillItem
from chalicelib.domain.model import Account, Community, Principal
from chalicelib.domain.payments import Notice, PaymentService, payment_id_for
from chalicelib.domain.receipts import ReceiptService, amount_in_words, local_time
from tests.unit.billing_fakes import FakeBills, FakePayments, FakeProviders, FakeReceipts, FakeReceiptStore
from tests.unit.fakes import FakeAccounts, UtcClock

# Amounts as the People's Bank's rules for 中文大写金额 write them (支付结算办法: 零 for a run of zeros inside the
# yuan and for a zero jiao before fen, 整 after 元 when there is neither jiao nor fen, 壹拾 not 拾).
AMOUNTS = [
    (71195, "柒佰壹拾壹元玖角伍分"),
    (5, "伍分"),
    (50, "伍角"),
    (1000, "壹拾元整"),
    (10050, "壹佰元伍角"),
    (100000001, "壹佰万元零壹分"),
    (0, "零元整"),
    (105, "壹元零伍分"),
    (1600, "壹拾陆元整"),
    (140950, "壹仟肆佰零玖元伍角"),
    (600714, "陆仟零柒元壹角肆分"),
    (168032, "壹仟陆佰捌拾元叁角贰分"),
    (10000500, "壹拾万零伍元整"),
    (20300000, "贰拾万零叁仟元整"),
    (10005000000, "壹亿零伍万元整"),
    (10000000500, "壹亿零伍元整"),
    (100000000000, "壹拾亿元整"),
]


@pytest.mark.parametrize(("cents", "words"), AMOUNTS)
def test_amount_in_words_follows_the_banking_rules(cents, words):
    assert amount_in_words(cents) == words


def test_amount_in_words_refuses_a_negative_amount():
    with pytest.raises(ValueError):
        amount_in_words(-1)


@pytest.mark.parametrize(("zone", "shown"), [
    ("Asia/Shanghai", "2026-12-02 08:30:05（北京时间）"),  # after midnight UTC: the next day in Beijing
    ("Asia/Urumqi", "2026-12-02 06:30:05（Asia/Urumqi，UTC+06:00）"),
    ("Not/AZone", "2026-12-02 08:30:05（北京时间）"),
])
def test_local_time_is_the_communitys_wall_clock(zone, shown):
    assert local_time("2026-12-02T00:30:05Z", zone) == shown


# -- what the receipt job hands the renderer ------------------------------------------------------

NOW = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 December in Beijing
OWNER = Principal("o1", "owner", "s", frozenset(), frozenset({"unit1"}), False)


@dataclass(frozen=True)
class CommunityRecord(Community):
    """A community record that names its property company."""

    company_name: str = ""


class FakeCommunities:
    def __init__(self, *communities: Community):
        self.items = {c.community_id: c for c in communities}

    def get_community(self, community_id: str) -> Community | None:
        return self.items.get(community_id)


def _rendered(communities: FakeCommunities | None, default_payee: str = "") -> object:
    """Pay a bill through the sandbox and return the document the receipt job renders."""
    bills, clock = FakeBills(), UtcClock(NOW)
    payments = FakePayments(bills)
    bills.create(Bill("bl_1", "unit1", "c1", "2栋1单元302", "property", "2026-11",
                      (BillItem("mgmt", "物业管理费", Decimal(1), "月", 71195, 71195),), "2026-12-16"))
    service = PaymentService(bills, payments, FakeProviders("sandbox"), lambda _: "阳光小区", lambda _: None,
                             clock=clock)
    payment = service.create(OWNER, payment_id_for(b"k", "o1", "key"), ("bl_1",), "sandbox")
    service.handle_notice(Notice("sandbox", payment.payment_id, "txn1", payment.amount_cents, True))
    accounts = FakeAccounts()
    accounts.create(Account("o1", "acco1", "王小明", "+8613800000001", "owner", "h", "x"))
    rendered: list = []
    receipts = ReceiptService(payments, bills, accounts, FakeReceipts(payments), FakeReceiptStore(),
                              lambda doc: rendered.append(doc) or b"%PDF", lambda: b"code-key",
                              "https://verify.example/r", 300, communities=communities, default_payee=default_payee)
    assert receipts.make(payment.payment_id)
    return rendered[0]


def test_the_payee_is_the_company_on_the_community_record():
    community = CommunityRecord("c1", "阳光小区", "某路 1 号", "Asia/Urumqi", "2026-01-01T00:00:00Z",
                                company_name="阳光物业服务有限公司")
    document = _rendered(FakeCommunities(community), default_payee="默认物业公司")
    assert document.payee == "阳光物业服务有限公司" and document.community_name == "阳光小区"
    assert document.timezone == "Asia/Urumqi"
    assert [b.unit_label for b in document.bills] == ["2栋1单元302"]


def test_without_a_company_on_record_the_configured_payee_and_beijing_time_apply():
    community = Community("c1", "阳光小区", "某路 1 号", "", "2026-01-01T00:00:00Z")
    document = _rendered(FakeCommunities(community), default_payee="默认物业公司")
    assert document.payee == "默认物业公司" and document.timezone == "Asia/Shanghai"
    assert local_time(document.paid_at, document.timezone) == "2026-12-02 00:30:00（北京时间）"
    assert _rendered(None).payee == ""  # nothing configured: the receipt names the community as payee
