"""WeChat Pay API v3 for a directly connected merchant (直连商户), to WeChat Pay's published v3 specification:
orders (JSAPI inside WeChat's browser, H5 in a phone browser, APP), signed and AES-GCM encrypted notices of
payments and refunds, order query and close, refunds and their query.

Every request is signed with the merchant's API private key (`Authorization: WECHATPAY2-SHA256-RSA2048 ...` over
`METHOD\\nPATH?QUERY\\ntimestamp\\nnonce\\nbody\\n`); every answer and notice is verified (`Wechatpay-Signature`
over `timestamp\\nnonce\\nbody\\n`) with the platform key named by `Wechatpay-Serial` — a platform certificate's
serial or the platform public key's id (`PUB_KEY_ID_…`), compared case-insensitively — before it is trusted.

Configuration (`from_config`): the JSON of the provider's secret, every value text.

- `mch_id`: the merchant id (商户号), digits.
- `app_id`: the AppID bound to the merchant (公众号 AppID for JSAPI; the same one serves H5 and APP).
- `merchant_private_key`: the merchant API certificate's private key (`apiclient_key.pem`), PEM or its bare
  base64 body; RSA, at least 2048 bits.
- `merchant_serial_no`: that certificate's serial number (hex).
- `api_v3_key`: the APIv3 key, exactly 32 bytes (it decrypts notices).
- `platform_certificates`: `{"<serial>": "<PEM certificate>"}` (an object, or its JSON text), and/or
- `platform_public_key` (PEM or bare base64) with `platform_public_key_id` (`PUB_KEY_ID_…`).
- `api_base` (optional): `https://api.mch.weixin.qq.com` unless set (the local stack points it at its emulator).

A missing or malformed field raises `ProviderConfigError` naming the field, never its value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from chalicelib.adapters.payments.common import InvalidSignature, ProviderConfigError, Reply, header
from chalicelib.adapters.payments.http import ProviderUnreachable, Transport, default_transport
from chalicelib.domain.payments import (
    CallbackRejected,
    Notice,
    PayContext,
    Payment,
    RefundNotice,
    RefundRequest,
    RefundResult,
)
from chalicelib.errors import Unavailable, field_error
from chalicelib.observability import logger

API_BASE = "https://api.mch.weixin.qq.com"
SCHEME = "WECHATPAY2-SHA256-RSA2048"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
USER_AGENT = "owner-portal/1.0 (WeChat Pay API v3)"  # WeChat Pay refuses requests without a User-Agent
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
MAX_SKEW_SECONDS = 300  # WeChat Pay's own SDKs accept 5 minutes either way
REASON_MAX = 80  # WeChat Pay shows the refund reason to the payer; longer ones are refused

PAID_STATES = frozenset({"SUCCESS", "REFUND"})  # REFUND: paid, then (partly) refunded
FAILED_STATES = frozenset({"CLOSED", "REVOKED", "PAYERROR"})
REFUND_STATUS = {"SUCCESS": "succeeded", "PROCESSING": "pending", "CLOSED": "failed", "ABNORMAL": "failed"}
# Answers whose outcome is unknown: the request may be repeated as it was (orders and refunds are idempotent
# on our ids at WeChat Pay).
RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BANK_ERROR"})


class UntrustedAnswer(ProviderUnreachable):
    """An answer that does not verify or does not match the request: treated as no answer at all."""


class ProviderRefused(Exception):
    """WeChat Pay refused a request outright (a 4xx with its error code, e.g. `ORDERPAID` on close)."""

    def __init__(self, code: str, status: int):
        super().__init__(f"WeChat Pay refused the request: {status} {code}")
        self.code = code
        self.status = status


@dataclass(frozen=True)
class PlatformKey:
    """A key WeChat Pay signs with: a platform certificate's (with its validity) or the platform public key."""

    public_key: Any
    not_before: float | None = None
    not_after: float | None = None

    def valid_at(self, now: float) -> bool:
        return (self.not_before is None or self.not_before <= now) and (self.not_after is None or now <= self.not_after)


@dataclass(frozen=True)
class WechatConfig:
    mch_id: str
    app_id: str
    merchant_key: Any
    merchant_serial_no: str
    api_v3_key: bytes
    platform_keys: dict[str, PlatformKey]  # upper-cased serial / public key id → key
    public_key_id: str | None = None
    api_base: str = API_BASE


@dataclass(frozen=True)
class _Answer:
    status: int
    data: dict[str, Any]
    code: str = ""


# -- configuration --------------------------------------------------------------------------------


def _field(config: dict[str, Any], name: str, required: bool = True) -> str:
    value = config.get(name)
    if value is None or value == "":
        if required:
            raise ProviderConfigError(f"WeChat Pay configuration: `{name}` is missing.")
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(f"WeChat Pay configuration: `{name}` must be text.")
    return value.strip()


def _pem(text: str, kind: str) -> bytes:
    if "-----BEGIN" in text:
        return text.encode()
    body = "".join(text.split())
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


def _private_key(text: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(_pem(text, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError):
        raise ProviderConfigError("WeChat Pay configuration: `merchant_private_key` is not a PEM private "
                                  "key.") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ProviderConfigError("WeChat Pay configuration: `merchant_private_key` must be RSA, 2048 bits or more.")
    return key


def _public_key(text: str, name: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(_pem(text, "PUBLIC KEY"))
    except (ValueError, TypeError):
        raise ProviderConfigError(f"WeChat Pay configuration: `{name}` is not a PEM public key.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderConfigError(f"WeChat Pay configuration: `{name}` must be an RSA key.")
    return key


def _certificate_key(serial: str, text: str) -> PlatformKey:
    from cryptography.x509 import load_pem_x509_certificate

    if "CERTIFICATE" not in text:  # a bare platform key pinned under a serial
        return PlatformKey(_public_key(text, "platform_certificates"))
    try:
        certificate = load_pem_x509_certificate(text.encode())
    except ValueError:
        raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` holds an unreadable "
                                  "certificate.") from None
    if certificate.serial_number != int(serial, 16):
        raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` names a certificate by "
                                  "another serial.")
    return PlatformKey(certificate.public_key(), certificate.not_valid_before_utc.timestamp(),
                       certificate.not_valid_after_utc.timestamp())


def _certificates(config: dict[str, Any]) -> dict[str, PlatformKey]:
    raw = config.get("platform_certificates")
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` is not JSON.") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` must map serials to PEM.")
    keys: dict[str, PlatformKey] = {}
    for serial, pem in raw.items():
        if not re.fullmatch(r"[0-9A-Fa-f]{1,64}", serial.strip()):
            raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` has a serial that is "
                                      "not hex.")
        keys[serial.strip().upper()] = _certificate_key(serial.strip(), pem)
    return keys


def _parse_config(config: dict[str, Any]) -> WechatConfig:
    mch_id = _field(config, "mch_id")
    if not (mch_id.isascii() and mch_id.isdigit()):
        raise ProviderConfigError("WeChat Pay configuration: `mch_id` must be digits.")
    app_id = _field(config, "app_id")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", app_id):
        raise ProviderConfigError("WeChat Pay configuration: `app_id` is malformed.")
    serial = _field(config, "merchant_serial_no")
    if not re.fullmatch(r"[0-9A-Fa-f]{1,64}", serial):
        raise ProviderConfigError("WeChat Pay configuration: `merchant_serial_no` must be hex.")
    api_v3_key = _field(config, "api_v3_key").encode()
    if len(api_v3_key) != 32:
        raise ProviderConfigError("WeChat Pay configuration: `api_v3_key` must be 32 bytes.")
    keys = _certificates(config)
    public_pem = _field(config, "platform_public_key", required=False)
    public_id = _field(config, "platform_public_key_id", required=False)
    if bool(public_pem) != bool(public_id):
        missing = "platform_public_key_id" if public_pem else "platform_public_key"
        raise ProviderConfigError(f"WeChat Pay configuration: `{missing}` is missing.")
    if public_id:
        if not (public_id.startswith(PUBLIC_KEY_ID_PREFIX) and public_id.isascii() and public_id.isprintable()):
            raise ProviderConfigError("WeChat Pay configuration: `platform_public_key_id` must start with "
                                      "PUB_KEY_ID_.")
        keys[public_id.upper()] = PlatformKey(_public_key(public_pem, "platform_public_key"))
    if not keys:
        raise ProviderConfigError("WeChat Pay configuration: `platform_certificates` or `platform_public_key` "
                                  "is missing.")
    base = _field(config, "api_base", required=False) or API_BASE
    parts = urlsplit(base)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise ProviderConfigError("WeChat Pay configuration: `api_base` must be an http(s) URL.")
    return WechatConfig(mch_id, app_id, _private_key(_field(config, "merchant_private_key")), serial, api_v3_key,
                        keys, public_id or None, base.rstrip("/"))


def from_config(config: dict[str, Any], *, notify_url: str, transport: Transport | None = None,
                clock: Callable[[], float] = time.time) -> WechatPayProvider:
    """The WeChat Pay provider from its secret's fields (see the module docstring); `ProviderConfigError` names
    the first unusable field. `notify_url` receives payment and refund notices (no query: WeChat Pay refuses it)."""
    parts = urlsplit(notify_url or "")
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise ProviderConfigError("WeChat Pay configuration: `notify_url` must be an http(s) URL without query.")
    return WechatPayProvider(_parse_config(config), notify_url=notify_url, transport=transport, clock=clock)


# -- signing and verifying ------------------------------------------------------------------------


def _rsa_sign(key: Any, message: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _rsa_verifies(key: Any, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature as CryptoInvalid
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (CryptoInvalid, ValueError, binascii.Error):
        return False
    return True


def _nonce() -> str:
    return secrets.token_hex(16).upper()


def beijing_time(epoch: int) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes and expects it: `2026-12-02T18:10:00+08:00`."""
    return datetime.fromtimestamp(epoch, tz=BEIJING).isoformat(timespec="seconds")


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- the provider ---------------------------------------------------------------------------------


class WechatPayProvider:
    """WeChat Pay API v3, one merchant and app id. Built by `from_config`."""

    name = "wechat"
    success = Reply(204, "")  # WeChat Pay takes any 2xx as received; 204 needs no body
    MAX_SKEW_SECONDS = MAX_SKEW_SECONDS

    def __init__(self, config: WechatConfig, *, notify_url: str, transport: Transport | None = None,
                 clock: Callable[[], float] = time.time):
        self._config = config
        self._notify_url = notify_url
        self._transport = transport or default_transport()
        self._clock = clock

    # -- outbound ---------------------------------------------------------------------------------

    def authorization(self, method: str, target: str, body: str, timestamp: str, nonce: str) -> str:
        """The `Authorization` header for one request (`target`: the path and query as sent)."""
        c = self._config
        signature = _rsa_sign(c.merchant_key, f"{method}\n{target}\n{timestamp}\n{nonce}\n{body}\n")
        return (f'{SCHEME} mchid="{c.mch_id}",nonce_str="{nonce}",signature="{signature}",'
                f'timestamp="{timestamp}",serial_no="{c.merchant_serial_no}"')

    def _call(self, method: str, target: str, document: dict[str, Any] | None = None) -> _Answer:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")) if document is not None else ""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
                   "Authorization": self.authorization(method, target, body, str(int(self._clock())), _nonce())}
        if document is not None:
            headers["Content-Type"] = "application/json"
        if self._config.public_key_id:  # the platform key we verify with, as WeChat Pay's own SDKs send it
            headers["Wechatpay-Serial"] = self._config.public_key_id
        answer = self._transport.send(method, self._config.api_base + target, headers,
                                      body.encode() if document is not None else None)
        if 200 <= answer.status < 300:
            try:
                self._verify(answer.header, answer.body)
            except InvalidSignature:
                logger.warning("wechat pay answer does not verify", extra={"status_code": answer.status})
                raise UntrustedAnswer("unverified answer") from None
            return _Answer(answer.status, self._json(answer.body))
        code = str(self._json(answer.body).get("code") or "")
        if answer.status == 429 or answer.status >= 500 or code in RETRYABLE_CODES:
            raise ProviderUnreachable(f"WeChat Pay answered {answer.status}")
        logger.warning("wechat pay refused a request", extra={"status_code": answer.status, "error_code": code})
        return _Answer(answer.status, {}, code)

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _verify(self, get: Callable[[str], str], raw: bytes, now: float | None = None) -> None:
        """WeChat Pay's signature on an answer or a notice; `InvalidSignature` unless it verifies now."""
        timestamp, nonce = get("Wechatpay-Timestamp"), get("Wechatpay-Nonce")
        signature, serial = get("Wechatpay-Signature"), get("Wechatpay-Serial")
        kind = get("Wechatpay-Signature-Type")
        if kind and kind != SCHEME:
            raise InvalidSignature()
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and nonce and signature
                and serial):
            raise InvalidSignature()
        moment = now if now is not None else self._clock()
        if abs(moment - int(timestamp)) > self.MAX_SKEW_SECONDS:
            raise InvalidSignature("The notice is too old.")
        key = self._config.platform_keys.get(serial.strip().upper())
        if key is None or not key.valid_at(moment):
            raise InvalidSignature("Unknown platform certificate.")
        if not _rsa_verifies(key.public_key, f"{timestamp}\n{nonce}\n".encode() + raw + b"\n", signature):
            raise InvalidSignature()

    # -- orders -----------------------------------------------------------------------------------

    def _order(self, payment: Payment) -> dict[str, Any]:
        # Everything here is derived from the payment alone: asking again after a lost answer sends the very
        # same order, which WeChat Pay answers with the same prepay_id instead of refusing a duplicate.
        return {"appid": self._config.app_id, "mchid": self._config.mch_id,
                "description": f"物业缴费（{len(payment.bill_ids)}笔账单）", "out_trade_no": payment.payment_id,
                "time_expire": beijing_time(payment.expires_at), "notify_url": self._notify_url,
                "amount": {"total": payment.amount_cents, "currency": "CNY"}}

    def check_context(self, context: PayContext) -> None:
        """Refuse, before any payment is stored, a request WeChat Pay cannot take (bad input changes nothing)."""
        channel = context.channel or "h5"
        if channel == "jsapi" and not context.openid:
            raise field_error("openid", "is required to pay with wechat inside WeChat (channel jsapi)")
        if channel not in ("jsapi", "h5", "app"):
            raise field_error("channel", "must be jsapi, h5 or app for wechat")

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        """Create the order at WeChat Pay and return what the page or app opens: for `jsapi` the signed
        parameters of `WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`, for `h5` (the default) `h5_url`, for
        `app` the signed parameters of the APP SDK's PayReq."""
        context = context or PayContext(payment.channel)
        channel = context.channel or payment.channel or "h5"
        order = self._order(payment)
        if channel == "jsapi":
            if not context.openid:
                raise field_error("openid", "is required to pay with wechat inside WeChat (channel jsapi)")
            order["payer"] = {"openid": context.openid}
        elif channel == "h5":
            order["scene_info"] = {"payer_client_ip": self._client_ip(context), "h5_info": {"type": "Wap"}}
        elif channel != "app":
            raise field_error("channel", "must be jsapi, h5 or app for wechat")
        answer = self._create(channel, order)
        if channel == "h5":
            url = answer.get("h5_url")
            if not isinstance(url, str) or not url.startswith("https://"):
                raise Unavailable("WeChat Pay did not give a payment link; try again.")
            if context.return_url:  # where WeChat sends the owner back (WeChat Pay's `redirect_url`)
                url += "&" + urlencode({"redirect_url": context.return_url})
            return {"h5_url": url}
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise Unavailable("WeChat Pay did not give a prepay id; try again.")
        return self._jsapi_params(prepay_id) if channel == "jsapi" else self._app_params(prepay_id)

    @staticmethod
    def _client_ip(context: PayContext) -> str:
        try:
            return str(ipaddress.ip_address(context.client_ip or ""))
        except ValueError:
            # WeChat Pay requires the payer's address for H5 and checks it against where the payer pays from.
            raise Unavailable("The payer's address is unknown; WeChat H5 pay cannot start.") from None

    def _create(self, channel: str, order: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = self._call("POST", f"/v3/pay/transactions/{channel}", order)
        except ProviderUnreachable:
            raise Unavailable("WeChat Pay cannot be reached; try again.") from None
        if answer.status != 200:
            raise Unavailable("WeChat Pay did not accept the order; try again later.")
        return answer.data

    def _jsapi_params(self, prepay_id: str) -> dict[str, Any]:
        c = self._config
        timestamp, nonce, package = str(int(self._clock())), _nonce(), f"prepay_id={prepay_id}"
        signature = _rsa_sign(c.merchant_key, f"{c.app_id}\n{timestamp}\n{nonce}\n{package}\n")
        return {"appId": c.app_id, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
                "signType": "RSA", "paySign": signature}

    def _app_params(self, prepay_id: str) -> dict[str, Any]:
        c = self._config
        timestamp, nonce = str(int(self._clock())), _nonce()
        signature = _rsa_sign(c.merchant_key, f"{c.app_id}\n{timestamp}\n{nonce}\n{prepay_id}\n")
        return {"appid": c.app_id, "partnerid": c.mch_id, "prepayid": prepay_id, "package": "Sign=WXPay",
                "noncestr": nonce, "timestamp": timestamp, "sign": signature}

    def query(self, payment: Payment) -> Notice | None:
        """The order at WeChat Pay by our id: a `Notice` once paid or failed, None while payable or unknown."""
        target = (f"/v3/pay/transactions/out-trade-no/{quote(payment.payment_id, safe='')}"
                  f"?{urlencode({'mchid': self._config.mch_id})}")
        answer = self._call("GET", target)
        if answer.status == 404 or answer.code == "ORDER_NOT_EXIST":
            return None  # never created (the owner never opened WeChat Pay): nothing was paid
        if answer.status != 200:
            raise ProviderRefused(answer.code, answer.status)
        data = answer.data
        if (data.get("mchid"), data.get("appid"), data.get("out_trade_no")) != (
                self._config.mch_id, self._config.app_id, payment.payment_id):
            raise UntrustedAnswer("the answer is about another order")
        state = data.get("trade_state")
        if state not in PAID_STATES and state not in FAILED_STATES:
            return None  # NOTPAY, USERPAYING: the owner may still pay
        amount = _integer((data.get("amount") or {}).get("total"))
        if amount is None:
            raise UntrustedAnswer("the answer has no amount")
        return Notice(self.name, payment.payment_id, str(data.get("transaction_id") or ""), amount,
                      state in PAID_STATES)

    def close(self, payment: Payment) -> None:
        """Close the order so it can no longer be paid; `ProviderRefused` (`ORDERPAID`) if it was paid first."""
        target = f"/v3/pay/transactions/out-trade-no/{quote(payment.payment_id, safe='')}/close"
        answer = self._call("POST", target, {"mchid": self._config.mch_id})
        if answer.status in (200, 204) or answer.status == 404 or answer.code == "ORDER_NOT_EXIST":
            return
        raise ProviderRefused(answer.code, answer.status)

    # -- refunds ----------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund; idempotent on `request.refund_id` (WeChat Pay's `out_refund_no`)."""
        document: dict[str, Any] = {
            "out_trade_no": request.payment_id, "out_refund_no": request.refund_id, "notify_url": self._notify_url,
            "amount": {"refund": request.amount_cents, "total": request.payment_amount_cents, "currency": "CNY"}}
        if request.reason:
            document["reason"] = request.reason[:REASON_MAX]
        answer = self._call("POST", "/v3/refund/domestic/refunds", document)
        if answer.status != 200:
            return RefundResult("failed")  # refused outright (amount, balance, order state): no money moved
        return self._refund_result(request, answer.data)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        """How a refund asked earlier stands; `failed` if WeChat Pay never received it."""
        answer = self._call("GET", f"/v3/refund/domestic/refunds/{quote(request.refund_id, safe='')}")
        if answer.status == 404:
            return RefundResult("failed")
        if answer.status != 200:
            raise ProviderRefused(answer.code, answer.status)
        return self._refund_result(request, answer.data)

    @staticmethod
    def _refund_result(request: RefundRequest, data: dict[str, Any]) -> RefundResult:
        amount = _integer((data.get("amount") or {}).get("refund"))
        if data.get("out_refund_no") != request.refund_id or amount != request.amount_cents:
            raise UntrustedAnswer("the answer is about another refund")
        return RefundResult(REFUND_STATUS.get(str(data.get("status")), "pending"), str(data.get("refund_id") or ""))

    # -- notices ----------------------------------------------------------------------------------

    def parse(self, headers: dict[str, str], raw: bytes, now: float | None = None) -> Notice | RefundNotice:
        """Verify a notice exactly as received, decrypt its resource with the APIv3 key, and check that it is
        ours: `InvalidSignature` (forged, tampered, replayed after 5 minutes, unknown key) or `CallbackRejected`."""
        self._verify(lambda name: header(headers, name), raw, now)
        try:
            document = json.loads(raw)
            event_type = str(document["event_type"])
            plain = self._decrypt(document["resource"])
        except Exception:  # noqa: BLE001 - any decoding/decryption problem means the same: reject
            raise CallbackRejected("The notice's resource cannot be decrypted.") from None
        if plain.get("mchid") != self._config.mch_id:
            raise CallbackRejected("The notice is for another merchant.")
        if event_type.startswith("REFUND."):
            return self._refund_notice(event_type, plain)
        if event_type.startswith("TRANSACTION."):
            return self._transaction_notice(plain)
        raise CallbackRejected("The notice is neither a payment's nor a refund's.")

    def _decrypt(self, resource: dict[str, Any]) -> dict[str, Any]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise ValueError("algorithm")
        plain = AESGCM(self._config.api_v3_key).decrypt(str(resource["nonce"]).encode(),
                                                        base64.b64decode(resource["ciphertext"], validate=True),
                                                        str(resource.get("associated_data") or "").encode())
        data = json.loads(plain)
        if not isinstance(data, dict):
            raise ValueError("resource")
        return data

    def _transaction_notice(self, plain: dict[str, Any]) -> Notice:
        if plain.get("appid") != self._config.app_id:
            raise CallbackRejected("The notice is for another merchant.")
        state = plain.get("trade_state")
        if state not in PAID_STATES and state not in FAILED_STATES:
            raise CallbackRejected("The trade state is not final.")
        amount = _integer((plain.get("amount") or {}).get("total"))
        if amount is None:
            raise CallbackRejected("The notice has no valid amount.")
        return Notice(self.name, str(plain.get("out_trade_no", "")), str(plain.get("transaction_id", "")), amount,
                      state in PAID_STATES)

    def _refund_notice(self, event_type: str, plain: dict[str, Any]) -> RefundNotice:
        status = plain.get("refund_status")
        if status not in ("SUCCESS", "CLOSED", "ABNORMAL") or event_type != f"REFUND.{status}":
            raise CallbackRejected("The refund status is not final.")
        amount = _integer((plain.get("amount") or {}).get("refund"))
        refund_id, payment_id = plain.get("out_refund_no"), plain.get("out_trade_no")
        if amount is None or not isinstance(refund_id, str) or not isinstance(payment_id, str):
            raise CallbackRejected("The refund notice is incomplete.")
        return RefundNotice(self.name, refund_id, payment_id, str(plain.get("refund_id", "")), amount,
                            "succeeded" if status == "SUCCESS" else "failed")
