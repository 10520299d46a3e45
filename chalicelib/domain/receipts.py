"""E-receipts: made once a payment succeeds, fetched through short links, verifiable by anyone with the code."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.billing import Bill
from chalicelib.domain.model import Community
from chalicelib.domain.payments import Payment, Receipt, receipt_code
from chalicelib.errors import NotFound

DEFAULT_TIMEZONE = "Asia/Shanghai"  # the community's zone when it has none (mainland China: Beijing time)
DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")  # within a group of four digits
GROUPS = ("", "万", "亿", "万亿")  # one per group of four digits, lowest first


class ReceiptStore(Protocol):
    def put(self, key: str, pdf: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...

    def link(self, key: str) -> str: ...


@dataclass(frozen=True)
class CommunityLookup(Protocol):
    def get_community(self, community_id: str) -> Community | None: ...


@dataclass(frozen=True)
class ReceiptDocument:
    """What a receipt shows: the injected `render` turns it into a PDF. `paid_at` is UTC (ISO 8601); the
    receipt prints it in `timezone`, the community's."""

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
    payee: str = ""  # the property company that received the money ("" = the community itself)
    timezone: str = DEFAULT_TIMEZONE
    method_reference: str = ""  # front-desk payments: the cash slip, POS voucher or bank transfer number


def amount_in_words(cents: int) -> str:
    """An amount in Chinese capitals (大写金额) as banks and invoices write it: ¥711.95 → 柒佰壹拾壹元玖角伍分,
    ¥10.00 → 壹拾元整, ¥1,000,000.01 → 壹佰万元零壹分, ¥0.05 → 伍分. A run of zeros inside the yuan is one 零;
    zeros at the end of the yuan are silent; a zero jiao before a fen is 零; 整 closes an amount without jiao
    and fen."""
    if cents < 0:
        raise ValueError("amount_in_words takes a non-negative amount")
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    words = _yuan_in_words(yuan)
    if words:
        words += "元"
    if jiao:
        words += DIGITS[jiao] + "角"
    elif fen and words:
        words += "零"
    if fen:
        words += DIGITS[fen] + "分"
    if not jiao and not fen:
        words = (words or "零元") + "整"
    return words


def _yuan_in_words(yuan: int) -> str:
    """The whole yuan in capitals, "" for none."""
    digits = str(yuan) if yuan else ""
    if len(digits) > 4 * len(GROUPS):
        raise ValueError("amount_in_words takes amounts below 10^16 yuan")
    words, zero_pending = "", False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        group, place = divmod(position, 4)
        if char == "0":
            zero_pending = zero_pending or bool(words)
        else:
            words += ("零" if zero_pending else "") + DIGITS[int(char)] + PLACES[place]
            zero_pending = False
        if place == 0 and group and _group_has_digits(digits, group):
            words += GROUPS[group]
    return words


def _group_has_digits(digits: str, group: int) -> bool:
    """Whether the four-digit group `group` (0 = lowest) of `digits` is not all zeros."""
    end = len(digits) - 4 * group
    return any(c != "0" for c in digits[max(0, end - 4):end])


def local_time(paid_at: str, timezone: str) -> str:
    """A UTC ISO 8601 instant as residents read it: wall-clock time in the community's zone, named ("北京时间"
    for Asia/Shanghai, else the zone and its offset). An unknown zone falls back to Beijing time."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        timezone, zone = DEFAULT_TIMEZONE, ZoneInfo(DEFAULT_TIMEZONE)
    moment = datetime.fromisoformat(paid_at).astimezone(zone)
    if timezone == DEFAULT_TIMEZONE:
        label = "北京时间"
    else:
        offset = moment.strftime("%z")
        label = f"{timezone}，UTC{offset[:3]}:{offset[3:]}"
    return f"{moment:%Y-%m-%d %H:%M:%S}（{label}）"


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
                 link_seconds: int, *, communities: CommunityLookup | None = None, default_payee: str = ""):
        self._payments = payments
        self._bills = bills
        self._accounts = accounts
        self._receipts = receipts
        self._store = store
        self._render = render
        self._code_key = code_key
        self._verify_base = verify_base
        self._link_seconds = link_seconds
        self._communities = communities
        self._default_payee = default_payee

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
        community = self._communities.get_community(payment.community_id) if self._communities else None
        document = ReceiptDocument(
            receipt.receipt_no, code, verify_url(self._verify_base, receipt.receipt_no, code),
            receipt.community_name, payer.name if payer else "", payment.method, payment.provider_txn_id or "",
            receipt.paid_at, receipt.amount_cents, tuple(bills[b] for b in payment.bill_ids if b in bills),
            payee=_company_of(community) or self._default_payee,
            timezone=community.timezone if community and community.timezone else DEFAULT_TIMEZONE,
            # front-desk payments (线下收费) carry the slip/voucher/transfer number the staff typed in
            method_reference=str(getattr(payment, "reference", "") or ""))
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


def _company_of(community: Community | None) -> str:
    """The property company named on the community record, if the record names one (older records do not)."""
    return str(getattr(community, "company_name", "") or "") if community else ""
