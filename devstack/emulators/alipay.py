"""A local Alipay: the open-platform gateway (`/alipay/gateway.do`) and the asynchronous notices, played the way
Alipay plays them, so the real adapter (chalicelib/adapters/payments/alipay.py) runs end to end offline.

It holds its own RSA key pair (made at start: `public_key_pem`, `public_key_base64` go into our secret as
`alipay_public_key`) and is told the application's public key: every request and order it sees must be signed
by it (RSA2 over the sorted parameters), as Alipay checks. Trades live in memory. Its answers are signed with its
own key over the `…_response` JSON exactly as sent; its notices are form-encoded bodies signed like Alipay's
(UTF-8 or GBK, `+` or `%20` for spaces).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from chalicelib.adapters.payments.alipay import (
    BEIJING,
    alipay_sign_content,
    cents_of,
    decode_form,
    load_rsa_public_key,
    request_sign_content,
    rsa2_sign,
    yuan,
)
from chalicelib.adapters.payments.common import InvalidSignature, rsa_sha256_verifies
from devstack.emulators import EmuAnswer, EmuRequest

ORDER_METHODS = ("alipay.trade.wap.pay", "alipay.trade.app.pay")


class OrderRefused(Exception):
    """The cashier refused an order (as Alipay shows an error page): `sub_code` says why."""

    def __init__(self, sub_code: str):
        super().__init__(sub_code)
        self.sub_code = sub_code


@dataclass
class Trade:
    out_trade_no: str
    total_cents: int
    subject: str
    notify_url: str
    time_expire: float | None
    trade_no: str
    status: str = "WAIT_BUYER_PAY"  # → TRADE_SUCCESS | TRADE_CLOSED (TRADE_FINISHED is not played)
    paid_at: str = ""
    refunds: dict[str, int] = field(default_factory=dict)  # out_request_no → fen

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())


def _beijing(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _epoch(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp()
    except (TypeError, ValueError):
        return None


class AlipayEmulator:
    prefix = "/alipay"

    def __init__(self, app_id: str, seller_id: str, app_public_key: str, *,
                 clock: Callable[[], float] = time.time):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.app_id = app_id
        self.seller_id = seller_id
        self._app_key = load_rsa_public_key(app_public_key)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.public_key_base64 = "".join(self.public_key_pem.strip().splitlines()[1:-1])
        self._clock = clock
        self.trades: dict[str, Trade] = {}

    @classmethod
    def with_secret(cls, gateway: str, *, app_id: str = "2021000000000001",
                    seller_id: str = "2088000000000001") -> tuple[AlipayEmulator, dict[str, str]]:
        """An emulator and the secret our adapter needs to talk to it (`alipay.from_config`): a fresh
        application key pair, the emulator's public key and `gateway` (its `/alipay/gateway.do` URL)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = app_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        private = app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        emulator = cls(app_id, seller_id, public)
        return emulator, {"app_id": app_id, "seller_id": seller_id, "app_private_key": private,
                          "alipay_public_key": emulator.public_key_pem, "gateway": gateway}

    # -- what the owner does in the cashier -----------------------------------------------------

    def open(self, order: str) -> Trade:
        """The owner opens a signed order (a WAP pay URL or an app order string): checked as Alipay's cashier
        checks it, the trade is created (Alipay creates it then, not when the merchant signs the order)."""
        query = urlsplit(order).query if order.startswith("http") else order
        params = dict(parse_qsl(query, keep_blank_values=True))
        problem = self._authenticate(params)
        if problem:
            raise OrderRefused(problem)
        if params.get("method") not in ORDER_METHODS:
            raise OrderRefused("isv.invalid-method")
        biz = json.loads(params.get("biz_content") or "{}")
        amount = cents_of(str(biz.get("total_amount", "")))
        if not biz.get("out_trade_no") or amount is None or amount <= 0 or not biz.get("subject"):
            raise OrderRefused("ACQ.INVALID_PARAMETER")
        existing = self.trades.get(biz["out_trade_no"])
        if existing is not None:
            if existing.total_cents != amount:
                raise OrderRefused("ACQ.CONTEXT_INCONSISTENT")
            return existing
        trade_no = time.strftime("%Y%m%d") + f"2200{secrets.randbelow(10**14):014d}"
        trade = Trade(biz["out_trade_no"], amount, biz["subject"], params.get("notify_url", ""),
                      _epoch(biz.get("time_expire", "")), trade_no)
        self.trades[trade.out_trade_no] = trade
        return trade

    def pay(self, out_trade_no: str, *, charset: str = "utf-8", space: str = "+") -> tuple[dict[str, str], bytes]:
        """The owner pays an opened trade: it is TRADE_SUCCESS and the notice Alipay would post is returned."""
        trade = self.trades[out_trade_no]
        if trade.status != "WAIT_BUYER_PAY":
            raise OrderRefused("ACQ.TRADE_STATUS_ERROR")
        if trade.time_expire is not None and self._clock() >= trade.time_expire:
            trade.status = "TRADE_CLOSED"
            raise OrderRefused("ACQ.TRADE_HAS_CLOSE")
        trade.status = "TRADE_SUCCESS"
        trade.paid_at = _beijing(self._clock())
        return self.notice(out_trade_no, charset=charset, space=space)

    # -- notices ---------------------------------------------------------------------------------

    def notice_params(self, out_trade_no: str, **over: str) -> dict[str, str]:
        """The parameters of the notice for a trade's current state (unsigned); `over` replaces some."""
        trade = self.trades[out_trade_no]
        now = _beijing(self._clock())
        params = {
            "gmt_create": trade.paid_at or now, "charset": "utf-8", "seller_email": "wuye@example.com",
            "subject": trade.subject, "buyer_id": "2088102177846880", "invoice_amount": yuan(trade.total_cents),
            "notify_id": secrets.token_hex(16), "fund_bill_list": json.dumps(
                [{"amount": yuan(trade.total_cents), "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
            "notify_type": "trade_status_sync", "trade_status": trade.status,
            "receipt_amount": yuan(trade.total_cents), "buyer_pay_amount": yuan(trade.total_cents),
            "app_id": self.app_id, "sign_type": "RSA2", "seller_id": self.seller_id, "gmt_payment": trade.paid_at,
            "notify_time": now, "version": "1.0", "out_trade_no": trade.out_trade_no,
            "total_amount": yuan(trade.total_cents), "trade_no": trade.trade_no, "auth_app_id": self.app_id,
            "buyer_logon_id": "158****1562", "point_amount": "0.00",
        }
        params.update(over)
        return {k: v for k, v in params.items() if v != ""}

    def signed_notice(self, params: dict[str, str], *, charset: str = "utf-8",
                      space: str = "+") -> tuple[dict[str, str], bytes]:
        """Sign notice parameters as Alipay does (over the text in `charset`) and form-encode them in it."""
        params = {**params, "charset": charset}
        params.pop("sign", None)
        params["sign"] = rsa2_sign(self._key, alipay_sign_content(params).encode(charset))
        quoting = quote_plus if space == "+" else quote
        body = urlencode(params, encoding=charset, quote_via=quoting).encode("ascii")
        return {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}, body

    def notice(self, out_trade_no: str, *, charset: str = "utf-8", space: str = "+",
               **over: str) -> tuple[dict[str, str], bytes]:
        """The signed notice for a trade's current state (again: Alipay resends until it reads `success`)."""
        return self.signed_notice(self.notice_params(out_trade_no, **over), charset=charset, space=space)

    def refund_notice(self, out_trade_no: str, out_request_no: str, *,
                      charset: str = "utf-8") -> tuple[dict[str, str], bytes]:
        """The notice Alipay posts after a refund: the trade's state (TRADE_CLOSED once fully refunded) with
        `out_biz_no`, `refund_fee` (total refunded so far) and `gmt_refund`."""
        trade = self.trades[out_trade_no]
        if out_request_no not in trade.refunds:
            raise KeyError(out_request_no)
        return self.notice(out_trade_no, charset=charset, out_biz_no=out_request_no,
                           refund_fee=yuan(trade.refunded), gmt_refund=_beijing(self._clock()) + ".000")

    @staticmethod
    def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """POST a notice to our callback over HTTP (the local stack); returns the status and the reply."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # a local URL we were given
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    # -- the gateway -----------------------------------------------------------------------------

    def handle(self, request: EmuRequest) -> EmuAnswer:
        if request.path != "/gateway.do":
            return EmuAnswer(404, {"Content-Type": "text/plain"}, b"not found")
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if request.body:
            try:
                body, _ = decode_form(request.body, request.header("Content-Type"))
            except InvalidSignature:
                return self._answer("error_response", {"code": "40002", "msg": "Invalid Arguments",
                                                       "sub_code": "isv.invalid-charset", "sub_msg": "字符集错误"})
            params.update(body)
        method = params.get("method", "")
        if method in ORDER_METHODS:  # the owner's browser following a pay URL or posting the form
            try:
                trade = self.open(request.query if request.method == "GET" else urlencode(params))
            except OrderRefused as refused:
                return EmuAnswer(200, {"Content-Type": "text/html; charset=utf-8"},
                                 f"<html><body>错误代码 {refused.sub_code}</body></html>".encode())
            page = f"<html><body>支付宝收银台 {trade.subject} ¥{yuan(trade.total_cents)}</body></html>"
            return EmuAnswer(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())
        key = method.replace(".", "_") + "_response"
        problem = self._authenticate(params)
        if problem:
            # Alipay cannot trust who asked: the answer names the problem and is not signed.
            return self._answer("error_response", {"code": "40002", "msg": "Invalid Arguments",
                                                   "sub_code": problem, "sub_msg": "验签出错"}, signed=False)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            return self._answer(key, _business("ACQ.INVALID_PARAMETER", "参数无效", code="40002"))
        handlers = {"alipay.trade.query": self._query, "alipay.trade.close": self._close,
                    "alipay.trade.refund": self._refund, "alipay.trade.fastpay.refund.query": self._refund_query}
        handler = handlers.get(method)
        if handler is None:
            return self._answer("error_response", {"code": "40002", "msg": "Invalid Arguments",
                                                   "sub_code": "isv.invalid-method", "sub_msg": "不存在的方法名"})
        return self._answer(key, handler(biz))

    def _authenticate(self, params: dict[str, str]) -> str:
        """Alipay's checks of a request: its app, its signature by the app's key, its timestamp."""
        if params.get("app_id") != self.app_id:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or not params.get("sign"):
            return "isv.invalid-signature-type"
        charset = params.get("charset") or "utf-8"
        if not rsa_sha256_verifies(self._app_key, request_sign_content(params).encode(charset), params["sign"]):
            return "isv.invalid-signature"
        sent = _epoch(params.get("timestamp", ""))
        if sent is None or abs(self._clock() - sent) > 15 * 60:
            return "isv.invalid-timestamp"
        return ""

    def _answer(self, key: str, data: dict[str, Any], *, signed: bool = True) -> EmuAnswer:
        # Alipay's JSON: Chinese as UTF-8, not escaped; the signature covers these very characters.
        content = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        text = '{"' + key + '":' + content
        if signed:
            text += ',"sign":"' + rsa2_sign(self._key, content.encode("utf-8")) + '"'
        text += "}"
        return EmuAnswer(200, {"Content-Type": "text/html;charset=utf-8"}, text.encode("utf-8"))

    def _trade(self, biz: dict[str, Any]) -> Trade | None:
        trade = self.trades.get(str(biz.get("out_trade_no", "")))
        if trade is not None and trade.status == "WAIT_BUYER_PAY" and trade.time_expire is not None \
                and self._clock() >= trade.time_expire:
            trade.status = "TRADE_CLOSED"
        return trade

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade is None:
            return _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        answer = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                  "buyer_logon_id": "158****1562", "trade_status": trade.status,
                  "total_amount": yuan(trade.total_cents), "buyer_pay_amount": "0.00", "point_amount": "0.00",
                  "invoice_amount": "0.00", "receipt_amount": "0.00"}
        if trade.paid_at:
            answer.update(buyer_pay_amount=yuan(trade.total_cents), send_pay_date=trade.paid_at)
        return answer

    def _close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade is None:
            return _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != "WAIT_BUYER_PAY":
            return _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        amount = cents_of(str(biz.get("refund_amount", "")))
        request_no = str(biz.get("out_request_no") or biz.get("out_trade_no", ""))
        if trade is None:
            return _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if amount is None or amount <= 0:
            return _business("ACQ.INVALID_PARAMETER", "参数无效", code="40002")
        done = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": "158****1562", "buyer_user_id": "2088102177846880"}
        if request_no in trade.refunds:  # the same refund again: nothing moves (fund_change N)
            if trade.refunds[request_no] != amount:
                return _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原请求不一致")
            return {**done, "fund_change": "N", "refund_fee": yuan(trade.refunded)}
        if trade.status != "TRADE_SUCCESS":
            return _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.refunded + amount > trade.total_cents:
            return _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        trade.refunds[request_no] = amount
        if trade.refunded == trade.total_cents:
            trade.status = "TRADE_CLOSED"
        return {**done, "fund_change": "Y", "refund_fee": yuan(trade.refunded),
                "gmt_refund_pay": _beijing(self._clock())}

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade is None:
            return _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = str(biz.get("out_request_no", ""))
        answer = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                  "out_request_no": request_no}
        if request_no in trade.refunds:  # Alipay answers no refund fields for a refund it does not have
            answer.update(refund_amount=yuan(trade.refunds[request_no]), total_amount=yuan(trade.total_cents),
                          refund_status="REFUND_SUCCESS")
        return answer


def _business(sub_code: str, sub_msg: str, *, code: str = "40004") -> dict[str, Any]:
    return {"code": code, "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
