"""A local WeChat Pay API v3 (direct merchant) for tests and `make run`: it plays WeChat Pay's side.

It checks our requests as WeChat Pay does (the `WECHATPAY2-SHA256-RSA2048` Authorization header verified with
the merchant's public key: 401 `SIGN_ERROR` otherwise; merchant, app id and fields checked: 400 with WeChat Pay's
error codes), keeps its orders and refunds in memory, signs every answer with its own platform key, and produces
the signed, AES-256-GCM encrypted notices WeChat Pay posts (`pay`, `settle_refund`; `post` sends one).

Served under `/wechat`: point the adapter's `api_base` at `<emulator URL>/wechat`. The platform key pair is made
at start; `platform_config()` gives the part of the adapter's configuration that names it — a platform
public key (`PUB_KEY_ID_…`, the default) or a platform certificate (`mode="certificate"`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from devstack.emulators import EmuAnswer, EmuRequest

SCHEME = "WECHATPAY2-SHA256-RSA2048"
BEIJING = timezone(timedelta(hours=8))
MAX_SKEW_SECONDS = 300
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
TRADE_TYPES = {"jsapi": "JSAPI", "h5": "MWEB", "app": "APP", "native": "NATIVE"}


class RequestRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Order:
    request: dict[str, Any]
    trade_type: str
    prepay_id: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    openid: str = ""


@dataclass
class _Refund:
    request: dict[str, Any]
    out_trade_no: str
    refund_id: str
    status: str
    create_time: str
    success_time: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=BEIJING).isoformat(timespec="seconds")


def _sign(key: Any, message: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _verifies(key: Any, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class WechatPayEmulator:
    """WeChat Pay for one merchant and app id. `merchant_public_key`: the PEM of our merchant API key's public
    half (what the merchant's API certificate carries); `merchant_serial_no`: that certificate's serial."""

    prefix = "/wechat"

    def __init__(self, *, mch_id: str, app_id: str, api_v3_key: str, merchant_public_key: str,
                 merchant_serial_no: str, mode: str = "public_key", allow_http_notify: bool = False,
                 refund_status_on_create: str = "PROCESSING", clock: Callable[[], float] = time.time,
                 platform_private_key: str | None = None):
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

        self.mch_id, self.app_id = mch_id, app_id
        self._api_v3_key = api_v3_key.encode()
        self._merchant_key = load_pem_public_key(merchant_public_key.encode())
        self._merchant_serial = merchant_serial_no
        self._allow_http = allow_http_notify
        self._refund_status_on_create = refund_status_on_create
        self._clock = clock
        # Made at start unless given (tests reuse keys: making RSA keys is slow).
        self._platform_key = (load_pem_private_key(platform_private_key.encode(), password=None)
                              if platform_private_key else rsa.generate_private_key(public_exponent=65537,
                                                                                    key_size=2048))
        self.mode = mode
        if mode == "certificate":
            self.certificate_pem, serial = self._self_signed()
            self.platform_serial = format(serial, "X")
        elif mode == "public_key":
            self.certificate_pem = ""
            self.platform_serial = "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(32))
        else:
            raise ValueError("mode must be public_key or certificate")
        self.orders: dict[str, _Order] = {}
        self.refunds: dict[str, _Refund] = {}
        self.requests_refused: list[str] = []  # the error codes answered, oldest first

    # -- keys -------------------------------------------------------------------------------------

    def _self_signed(self) -> tuple[str, int]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (local emulator)")])
        now = datetime.now(UTC)
        serial = x509.random_serial_number()
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                       .public_key(self._platform_key.public_key()).serial_number(serial)
                       .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                       .sign(self._platform_key, hashes.SHA256()))
        return certificate.public_bytes(serialization.Encoding.PEM).decode(), serial

    @property
    def platform_public_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self._platform_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def platform_config(self) -> dict[str, Any]:
        """The adapter configuration's fields that name this emulator's platform key."""
        if self.mode == "certificate":
            return {"platform_certificates": {self.platform_serial: self.certificate_pem}}
        return {"platform_public_key": self.platform_public_key_pem, "platform_public_key_id": self.platform_serial}

    def signed_headers(self, body: bytes, *, timestamp: int | None = None, serial: str | None = None) -> dict[str, str]:
        """WeChat Pay's signature headers for an answer or notice body."""
        stamp = str(int(self._clock()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        signature = _sign(self._platform_key, f"{stamp}\n{nonce}\n".encode() + body + b"\n")
        return {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial or self.platform_serial, "Wechatpay-Signature-Type": SCHEME,
                "Request-ID": secrets.token_hex(16)}

    # -- HTTP -------------------------------------------------------------------------------------

    def handle(self, request: EmuRequest) -> EmuAnswer:
        try:
            self._check_signature(request)
            if not request.header("User-Agent"):
                raise RequestRefused(400, "PARAM_ERROR", "HTTP header缺少User-Agent")
            status, document = self._route(request)
        except RequestRefused as refused:
            self.requests_refused.append(refused.code)
            body = json.dumps({"code": refused.code, "message": refused.message}, ensure_ascii=False).encode()
            return EmuAnswer(refused.status, {"Content-Type": "application/json", **self.signed_headers(body)}, body)
        body = json.dumps(document, ensure_ascii=False).encode() if document is not None else b""
        headers = self.signed_headers(body)
        if document is not None:
            headers["Content-Type"] = "application/json"
        return EmuAnswer(status, headers, body)

    def _check_signature(self, request: EmuRequest) -> None:
        scheme, _, rest = request.header("Authorization").partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        target = request.path + ("?" + request.query if request.query else "")
        stamp = fields.get("timestamp", "")
        message = (f"{request.method}\n{target}\n{stamp}\n{fields.get('nonce_str', '')}\n".encode()
                   + request.body + b"\n")
        fresh = stamp.isdigit() and abs(self._clock() - int(stamp)) <= MAX_SKEW_SECONDS
        if not (scheme == SCHEME and fields.get("mchid") == self.mch_id and fresh
                and fields.get("serial_no", "").upper() == self._merchant_serial.upper()
                and _verifies(self._merchant_key, message, fields.get("signature", ""))):
            raise RequestRefused(401, "SIGN_ERROR", "签名错误")

    def _route(self, request: EmuRequest) -> tuple[int, dict[str, Any] | None]:
        path, method = request.path, request.method
        created = re.fullmatch(r"/v3/pay/transactions/(jsapi|h5|app|native)", path)
        if method == "POST" and created:
            return 200, self._create(created.group(1), self._body(request))
        order_path = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
        if order_path and method == "GET" and not order_path.group(2):
            if parse_qs(request.query).get("mchid") != [self.mch_id]:
                raise RequestRefused(400, "PARAM_ERROR", "mchid不正确")
            return 200, self._transaction(self._order(unquote(order_path.group(1))))
        if order_path and method == "POST" and order_path.group(2):
            self._close(unquote(order_path.group(1)), self._body(request))
            return 204, None
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return 200, self._refund(self._body(request))
        refund_path = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if method == "GET" and refund_path:
            refund = self.refunds.get(unquote(refund_path.group(1)))
            if refund is None:
                raise RequestRefused(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return 200, self._refund_document(refund)
        raise RequestRefused(404, "NOT_FOUND", "请求的资源不存在")

    @staticmethod
    def _body(request: EmuRequest) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise RequestRefused(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
        if not isinstance(body, dict):
            raise RequestRefused(400, "PARAM_ERROR", "请求体不是合法的JSON")
        return body

    # -- orders -----------------------------------------------------------------------------------

    def _check_order(self, kind: str, body: dict[str, Any]) -> None:
        if body.get("mchid") != self.mch_id:
            raise RequestRefused(400, "MCH_NOT_EXISTS", "商户号不存在")
        if body.get("appid") != self.app_id:
            raise RequestRefused(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        description = body.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 127:
            raise RequestRefused(400, "PARAM_ERROR", "description字段不正确")
        if not OUT_TRADE_NO.fullmatch(str(body.get("out_trade_no", ""))):
            raise RequestRefused(400, "PARAM_ERROR", "out_trade_no字段不正确")
        amount = body.get("amount") or {}
        total = amount.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < 1 or amount.get("currency", "CNY") != "CNY":
            raise RequestRefused(400, "PARAM_ERROR", "amount字段不正确")
        self._check_notify_url(body.get("notify_url"))
        if "time_expire" in body:
            try:
                expires = datetime.fromisoformat(str(body["time_expire"]))
            except ValueError:
                raise RequestRefused(400, "PARAM_ERROR", "time_expire字段不正确") from None
            if expires.tzinfo is None or expires.timestamp() <= self._clock():
                raise RequestRefused(400, "PARAM_ERROR", "time_expire字段不正确")
        if kind == "jsapi" and not (body.get("payer") or {}).get("openid"):
            raise RequestRefused(400, "PARAM_ERROR", "JSAPI支付必须传openid")
        if kind == "h5":
            scene = body.get("scene_info") or {}
            if not scene.get("payer_client_ip") or not (scene.get("h5_info") or {}).get("type"):
                raise RequestRefused(400, "PARAM_ERROR", "H5支付必须传scene_info")

    def _check_notify_url(self, url: Any) -> None:
        parts = urlsplit(str(url or ""))
        schemes = ("https", "http") if self._allow_http else ("https",)
        if parts.scheme not in schemes or not parts.netloc or parts.query:
            raise RequestRefused(400, "PARAM_ERROR", "notify_url字段不正确")

    def _create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_order(kind, body)
        out_trade_no = body["out_trade_no"]
        order = self.orders.get(out_trade_no)
        if order is not None:
            if order.state in ("SUCCESS", "REFUND"):
                raise RequestRefused(400, "ORDERPAID", "该订单已支付")
            if order.state == "CLOSED":
                raise RequestRefused(400, "ORDER_CLOSED", "订单已关闭")
            if order.request != body or order.trade_type != TRADE_TYPES[kind]:
                raise RequestRefused(400, "INVALID_REQUEST", "201 商户订单号重复")
        else:
            order = _Order(body, TRADE_TYPES[kind], "wx" + datetime.now(BEIJING).strftime("%d%H%M%S")
                           + secrets.token_hex(12), openid=(body.get("payer") or {}).get("openid", ""))
            self.orders[out_trade_no] = order
        if kind == "h5":
            query = urlencode({"prepay_id": order.prepay_id, "package": secrets.randbelow(10**10)})
            return {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?" + query}
        if kind == "native":
            return {"code_url": "weixin://wxpay/bizpayurl?pr=" + secrets.token_urlsafe(6)}
        return {"prepay_id": order.prepay_id}

    def _order(self, out_trade_no: str) -> _Order:
        order = self.orders.get(out_trade_no)
        if order is None:
            raise RequestRefused(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def _transaction(self, order: _Order) -> dict[str, Any]:
        total = order.request["amount"]["total"]
        document: dict[str, Any] = {
            "appid": self.app_id, "mchid": self.mch_id, "out_trade_no": order.request["out_trade_no"],
            "trade_type": order.trade_type, "trade_state": order.state,
            "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭",
                                 "REFUND": "转入退款", "PAYERROR": "支付失败"}.get(order.state, ""),
            "attach": order.request.get("attach", ""), "payer": {"openid": order.openid or "oEmulatorPayer"},
            "amount": {"total": total, "currency": "CNY", "payer_currency": "CNY",
                       "payer_total": total if order.state in ("SUCCESS", "REFUND") else 0}}
        if order.transaction_id:
            document.update(transaction_id=order.transaction_id, success_time=order.success_time,
                            bank_type="OTHERS")
        return document

    def _close(self, out_trade_no: str, body: dict[str, Any]) -> None:
        if body.get("mchid") != self.mch_id:
            raise RequestRefused(400, "MCH_NOT_EXISTS", "商户号不存在")
        order = self._order(out_trade_no)
        if order.state in ("SUCCESS", "REFUND"):
            raise RequestRefused(400, "ORDERPAID", "该订单已支付")
        order.state = "CLOSED"

    # -- refunds ----------------------------------------------------------------------------------

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        out_refund_no = str(body.get("out_refund_no", ""))
        if not OUT_REFUND_NO.fullmatch(out_refund_no):
            raise RequestRefused(400, "PARAM_ERROR", "out_refund_no字段不正确")
        existing = self.refunds.get(out_refund_no)
        if existing is not None:
            if existing.request != body:
                raise RequestRefused(400, "INVALID_REQUEST", "同一退款单号的退款参数不一致")
            return self._refund_document(existing)
        order = self._refundable_order(body)
        amount = body.get("amount") or {}
        refund, total = amount.get("refund"), amount.get("total")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (refund, total)) or refund < 1:
            raise RequestRefused(400, "PARAM_ERROR", "amount字段不正确")
        if total != order.request["amount"]["total"]:
            raise RequestRefused(400, "INVALID_REQUEST", "订单金额与实际不符")
        refunded = sum(r.request["amount"]["refund"] for r in self.refunds.values()
                       if r.out_trade_no == order.request["out_trade_no"] and r.status != "CLOSED")
        if refunded + refund > total:
            raise RequestRefused(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if "notify_url" in body:
            self._check_notify_url(body["notify_url"])
        record = _Refund(body, order.request["out_trade_no"], "50" + secrets.token_hex(14),
                         self._refund_status_on_create, _rfc3339(self._clock()))
        if record.status == "SUCCESS":
            record.success_time = record.create_time
        self.refunds[out_refund_no] = record
        order.state = "REFUND"
        return self._refund_document(record)

    def _refundable_order(self, body: dict[str, Any]) -> _Order:
        if "out_trade_no" in body:
            order = self.orders.get(str(body["out_trade_no"]))
        else:
            order = next((o for o in self.orders.values() if o.transaction_id == body.get("transaction_id")), None)
        if order is None or not order.transaction_id:
            raise RequestRefused(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        return order

    def _refund_document(self, refund: _Refund) -> dict[str, Any]:
        order = self.orders[refund.out_trade_no]
        amount = refund.request["amount"]
        document = {
            "refund_id": refund.refund_id, "out_refund_no": refund.request["out_refund_no"],
            "transaction_id": order.transaction_id, "out_trade_no": refund.out_trade_no, "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱", "create_time": refund.create_time, "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {"total": amount["total"], "refund": amount["refund"], "payer_total": amount["total"],
                       "payer_refund": amount["refund"], "settlement_total": amount["total"],
                       "settlement_refund": amount["refund"], "discount_refund": 0, "currency": "CNY",
                       "refund_fee": 0}}
        if refund.success_time:
            document["success_time"] = refund.success_time
        return document

    # -- notices ----------------------------------------------------------------------------------

    def notice(self, event_type: str, original_type: str, resource: dict[str, Any], *,
               timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        """A notice as WeChat Pay posts it: `resource` encrypted with the APIv3 key, the body signed."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_urlsafe(9)[:12]
        ciphertext = AESGCM(self._api_v3_key).encrypt(nonce.encode(), json.dumps(resource, ensure_ascii=False)
                                                      .encode(), original_type.encode())
        summary = {"transaction": "支付成功", "refund": "退款状态变更"}.get(original_type, "通知")
        body = json.dumps({
            "id": "EV-" + secrets.token_hex(12), "create_time": _rfc3339(self._clock()),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": original_type,
                         "nonce": nonce}}, ensure_ascii=False).encode()
        return {"Content-Type": "application/json", **self.signed_headers(body, timestamp=timestamp)}, body

    def pay(self, out_trade_no: str, *, openid: str = "oEmulatorPayer") -> tuple[dict[str, str], bytes]:
        """The payer pays the order: it becomes SUCCESS, and the TRANSACTION.SUCCESS notice is returned."""
        order = self.orders.get(out_trade_no)
        if order is None or order.state != "NOTPAY":
            raise ValueError("the order cannot be paid: " + (order.state if order else "unknown"))
        expires = order.request.get("time_expire")
        if expires and datetime.fromisoformat(expires).timestamp() <= self._clock():
            raise ValueError("the order has expired")
        order.state = "SUCCESS"
        order.transaction_id = "42000" + "".join(secrets.choice("0123456789") for _ in range(23))
        order.success_time = _rfc3339(self._clock())
        order.openid = order.openid or openid
        return self.notice("TRANSACTION.SUCCESS", "transaction", self._transaction(order))

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> tuple[dict[str, str], bytes]:
        """A refund reaches `status` (SUCCESS, CLOSED or ABNORMAL): the REFUND.<status> notice is returned."""
        refund = self.refunds[out_refund_no]
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = _rfc3339(self._clock())
        order = self.orders[refund.out_trade_no]
        amount = refund.request["amount"]
        resource = {"mchid": self.mch_id, "out_trade_no": refund.out_trade_no,
                    "transaction_id": order.transaction_id, "out_refund_no": refund.request["out_refund_no"],
                    "refund_id": refund.refund_id, "refund_status": status,
                    "user_received_account": "支付用户零钱",
                    "amount": {"total": amount["total"], "refund": amount["refund"], "payer_total": amount["total"],
                               "payer_refund": amount["refund"]}}
        if refund.success_time:
            resource["success_time"] = refund.success_time
        return self.notice(f"REFUND.{status}", "refund", resource)

    @staticmethod
    def post(url: str, headers: dict[str, str], body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
        """POST a notice to our callback as WeChat Pay does; returns (status, body)."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
