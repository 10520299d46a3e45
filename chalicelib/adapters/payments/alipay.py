"""Alipay (支付宝) open platform, RSA2: orders, asynchronous notices, query, close and refunds, to Alipay's
published specification.

The provider's secret (`from_config`) is a JSON object with these fields (strings):

- `app_id`: the application's id (digits, e.g. `2021000123456789`);
- `seller_id`: the merchant's partner id, `2088` and 12 digits: notices for another seller are refused;
- `app_private_key`: the application's RSA private key that signs our requests: PKCS#1 or PKCS#8, as PEM or as
  the bare base64 body Alipay's key tool prints;
- Alipay's key, in one of two modes:
  - public-key mode: `alipay_public_key`, PEM or bare base64 (as the console shows it);
  - certificate mode: `app_cert` (the application's public-key certificate), `alipay_cert` (Alipay's public-key
    certificate, whose key verifies Alipay's signatures) and `alipay_root_cert` (Alipay's root certificate chain),
    all PEM; every request then carries `app_cert_sn` and `alipay_root_cert_sn` computed from them;
- `gateway` (optional): the gateway URL, by default Alipay's production gateway (the sandbox's or the local
  emulator's for tests);
- `return_url` (optional): where the phone browser returns after paying, unless the request names one.

Every unusable field raises `ProviderConfigError` naming it (never its value) when the provider is built.
`cryptography` is imported by the functions that need it, not at import time.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode

from chalicelib.adapters.payments.common import (
    InvalidSignature,
    ProviderConfigError,
    Reply,
    header,
    load_public_key,
    rsa_sha256_verifies,
)
from chalicelib.adapters.payments.http import Transport, default_transport
from chalicelib.domain.payments import (
    CallbackRejected,
    Notice,
    PayContext,
    Payment,
    RefundNotice,
    RefundRequest,
    RefundResult,
)

GATEWAY = "https://openapi.alipay.com/gateway.do"
BEIJING = timezone(timedelta(hours=8))  # Alipay reads every time in China Standard Time (no DST)
SUBJECT = "物业费缴费"
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")
# The charsets Alipay sends notices in; gb2312 text decodes as GBK (a superset, same bytes).
CHARSETS = {"utf-8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}
AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")
RSA_SIGNATURES = "1.2.840.113549.1.1."  # the root chain's RSA certificates count for its SN, the others not
SUCCESS_CODE = "10000"
UNKNOWN_OUTCOME_CODE = "20000"  # service unavailable: the request may or may not have been applied


class AlipayError(Exception):
    """Alipay answered with an error (or an answer we cannot trust); `code`/`sub_code` are Alipay's."""

    def __init__(self, code: str, sub_code: str = ""):
        super().__init__(f"{code} {sub_code}".strip())
        self.code = code
        self.sub_code = sub_code

    @property
    def outcome_unknown(self) -> bool:
        """The request may have been applied: retry it with the same ids, or query."""
        return self.code in (UNKNOWN_OUTCOME_CODE, "unreadable") or self.sub_code in ("ACQ.SYSTEM_ERROR",
                                                                                        "aop.ACQ.SYSTEM_ERROR")


# -- signing -------------------------------------------------------------------------------------


def alipay_sign_content(params: dict[str, str]) -> str:
    """Alipay's string to verify for asynchronous notices: every parameter but `sign` and `sign_type`,
    non-empty, sorted by name, as `k=v` joined by `&` (values decoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")


def request_sign_content(params: dict[str, str]) -> str:
    """Alipay's string to sign for requests (and to check on the emulator's side): every parameter but `sign`,
    non-empty, sorted by name (`sign_type` included, unlike notices)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


def rsa2_sign(private_key: Any, message: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


# -- keys and certificates -------------------------------------------------------------------------


def _der(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def load_private_key(text: str) -> Any:
    """An RSA private key: PKCS#1 or PKCS#8, PEM or bare base64 (DER). ValueError if unusable."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

    body = text.strip()
    try:
        key = (load_pem_private_key(body.encode(), None) if "-----BEGIN" in body
               else load_der_private_key(_der(body), None))
    except (ValueError, TypeError) as error:
        raise ValueError("not an RSA private key") from error
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ValueError("not an RSA2 (2048-bit or longer) private key")
    return key


def load_rsa_public_key(text: str) -> Any:
    """An RSA public key: SubjectPublicKeyInfo or PKCS#1, PEM or bare base64. ValueError if unusable."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    body = text.strip()
    try:
        key = load_public_key(body) if "-----BEGIN" in body else load_der_public_key(_der(body))
    except (ValueError, TypeError) as error:
        raise ValueError("not an RSA public key") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _certificates(pem: str) -> list[Any]:
    from cryptography.x509 import load_pem_x509_certificates

    return load_pem_x509_certificates(pem.strip().encode())


def cert_sn(certificate: Any) -> str:
    """Alipay's certificate SN: MD5 (hex) of the issuer's distinguished name as RFC 2253 writes it (most
    specific first, `CN=…,OU=…,O=…,C=…`) followed by the serial number in decimal."""
    issuer = certificate.issuer.rfc4514_string()
    return hashlib.md5((issuer + str(certificate.serial_number)).encode()).hexdigest()  # noqa: S324 - Alipay's id


def root_cert_sn(chain_pem: str) -> str:
    """Alipay's root-certificate SN: the SNs of the chain's RSA-signed certificates joined by `_`."""
    sns = [cert_sn(c) for c in _certificates(chain_pem) if c.signature_algorithm_oid.dotted_string.startswith(
        RSA_SIGNATURES)]
    if not sns:
        raise ValueError("no RSA certificate in the root chain")
    return "_".join(sns)


@dataclass(frozen=True)
class AlipayKeys:
    """What signs our requests and verifies Alipay's answers; the SNs only in certificate mode."""

    app_private_key: Any
    alipay_public_key: Any
    app_cert_sn: str | None = None
    alipay_root_cert_sn: str | None = None
    alipay_cert_sn: str | None = None


def _field(config: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = config.get(name)
    if value is None or value == "":
        if required:
            raise ProviderConfigError(f"alipay: `{name}` is missing")
        return None
    if not isinstance(value, str):
        raise ProviderConfigError(f"alipay: `{name}` must be a string")
    return value


def _loaded(name: str, load: Callable[[str], Any], text: str) -> Any:
    try:
        return load(text)
    except ValueError:
        raise ProviderConfigError(f"alipay: `{name}` is malformed") from None


def _public_numbers(key: Any) -> Any:
    return key.public_numbers() if hasattr(key, "public_numbers") else key.public_key().public_numbers()


def keys_from_config(config: dict[str, Any]) -> AlipayKeys:
    """Load and check the keys of Alipay's secret (public-key or certificate mode)."""
    private = _loaded("app_private_key", load_private_key, _field(config, "app_private_key") or "")
    public_text = _field(config, "alipay_public_key", required=False)
    cert_fields = [n for n in ("app_cert", "alipay_cert", "alipay_root_cert") if config.get(n)]
    if public_text and cert_fields:
        raise ProviderConfigError("alipay: give `alipay_public_key` or the certificates, not both")
    if public_text:
        return AlipayKeys(private, _loaded("alipay_public_key", load_rsa_public_key, public_text))
    if not cert_fields:
        raise ProviderConfigError("alipay: `alipay_public_key` (or `app_cert`, `alipay_cert`, `alipay_root_cert`) "
                                  "is missing")
    app_cert = _loaded("app_cert", lambda t: _certificates(t)[0], _field(config, "app_cert") or "")
    alipay_cert = _loaded("alipay_cert", lambda t: _certificates(t)[0], _field(config, "alipay_cert") or "")
    root_sn = _loaded("alipay_root_cert", root_cert_sn, _field(config, "alipay_root_cert") or "")
    if _public_numbers(app_cert.public_key()) != _public_numbers(private):
        raise ProviderConfigError("alipay: `app_cert` does not certify `app_private_key`")
    alipay_key = alipay_cert.public_key()
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(alipay_key, rsa.RSAPublicKey):
        raise ProviderConfigError("alipay: `alipay_cert` is malformed")
    return AlipayKeys(private, alipay_key, cert_sn(app_cert), root_sn, cert_sn(alipay_cert))


# -- notices as received ------------------------------------------------------------------------


def _charset_param(content_type: str) -> str:
    match = re.search(r"charset\s*=\s*\"?([\w-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else ""


def _codec(name: str) -> str | None:
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return None
    return CHARSETS.get(canonical)


def _form_bytes(raw: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for part in raw.split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            pairs.append((unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def decode_form(raw: bytes, content_type: str = "") -> tuple[dict[str, str], str]:
    """A form body exactly as Alipay posts it: percent-escapes (and `+`) decoded in the charset that the body's
    `charset` parameter names (else the Content-Type's, else UTF-8). Returns the parameters and the codec."""
    pairs = _form_bytes(raw)
    declared = next((v for k, v in pairs if k == b"charset"), b"").decode("ascii", "replace")
    codec = _codec(declared or _charset_param(content_type) or "utf-8")
    if codec is None:
        raise InvalidSignature("The notice's charset is not one Alipay uses.")
    params: dict[str, str] = {}
    try:
        for key, value in pairs:
            name = key.decode(codec)
            if name in params:
                raise InvalidSignature("A notice parameter is repeated.")
            params[name] = value.decode(codec)
    except UnicodeDecodeError:
        raise InvalidSignature("The notice does not decode in its charset.") from None
    return params, codec


def yuan(cents: int) -> str:
    """Fen as Alipay's amount: yuan with two decimals."""
    return f"{Decimal(cents) / 100:.2f}"


def cents_of(amount: str | None) -> int | None:
    """Alipay's yuan amount as fen; None if it is not a plain amount."""
    if not amount or not AMOUNT.fullmatch(amount):
        return None
    try:
        return int(Decimal(amount) * 100)
    except InvalidOperation:
        return None


# -- answers as returned ------------------------------------------------------------------------


def top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each top-level member's value lies in a JSON object's text: Alipay signs the `…_response` value
    exactly as it sent it, so it is verified as those characters, never as a re-serialisation."""
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    ws = re.compile(r"\s*")
    at = ws.match(text, 0).end()  # type: ignore[union-attr]
    if text[at:at + 1] != "{":
        raise ValueError("not an object")
    at = ws.match(text, at + 1).end()  # type: ignore[union-attr]
    if text[at:at + 1] == "}":
        return spans
    while True:
        key, at = decoder.raw_decode(text, at)
        at = ws.match(text, at).end()  # type: ignore[union-attr]
        if text[at:at + 1] != ":":
            raise ValueError("expected ':'")
        start = ws.match(text, at + 1).end()  # type: ignore[union-attr]
        _, end = decoder.raw_decode(text, start)
        spans[key] = (start, end)
        at = ws.match(text, end).end()  # type: ignore[union-attr]
        if text[at:at + 1] == "}":
            return spans
        if text[at:at + 1] != ",":
            raise ValueError("expected ','")
        at = ws.match(text, at + 1).end()  # type: ignore[union-attr]


class AlipayProvider:
    """Alipay for one application: signed orders (WAP and app pay), RSA2-verified notices, and the gateway's
    query, close and refund calls, each answer verified before it is trusted."""

    name = "alipay"
    success = Reply(200, "success", "text/plain; charset=utf-8")

    def __init__(self, app_id: str, seller_id: str, alipay_public_key: Any, *, app_private_key: Any = None,
                 notify_url: str = "", transport: Transport | None = None, gateway: str = GATEWAY,
                 return_url: str | None = None, keys: AlipayKeys | None = None,
                 clock: Callable[[], float] = time.time):
        self._app_id = app_id
        self._seller_id = seller_id
        if keys is None:
            public = (_loaded("alipay_public_key", load_rsa_public_key, alipay_public_key)
                      if isinstance(alipay_public_key, str) else alipay_public_key)
            private = (_loaded("app_private_key", load_private_key, app_private_key)
                       if isinstance(app_private_key, str) else app_private_key)
            keys = AlipayKeys(private, public)
        self._keys = keys
        self._notify_url = notify_url
        self._transport = transport
        self._gateway = gateway
        self._return_url = return_url
        self._clock = clock

    # -- orders ----------------------------------------------------------------------------------

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        """The signed order: `channel` `app` gives the order string the Alipay app SDK takes; anything else a
        phone-browser (WAP) order, as a redirect URL and as the equivalent auto-submit form."""
        context = context or PayContext(payment.channel)
        biz: dict[str, Any] = {"out_trade_no": payment.payment_id, "total_amount": yuan(payment.amount_cents),
                               "subject": SUBJECT, "time_expire": self._beijing(payment.expires_at)}
        # time_expire (absolute) rather than timeout_express: Alipay starts the relative one only when the owner
        # opens the cashier, so it would outlive our 15 minutes.
        common = {"out_trade_no": payment.payment_id, "total_amount": biz["total_amount"]}
        if context.channel == "app":
            params = self._signed("alipay.trade.app.pay", {**biz, "product_code": "QUICK_MSECURITY_PAY"},
                                  notify_url=self._notify_url)
            return {"channel": "app", "order_string": urlencode(params), **common}
        params = self._signed("alipay.trade.wap.pay", {**biz, "product_code": "QUICK_WAP_WAY"},
                              notify_url=self._notify_url, return_url=context.return_url or self._return_url or "")
        return {"channel": "h5", "pay_url": self._gateway + "?" + urlencode(params),
                "form": {"action": self._gateway + "?charset=utf-8", "method": "POST", "fields": params}, **common}

    def _beijing(self, epoch: float) -> str:
        return datetime.fromtimestamp(epoch, BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def _signed(self, method: str, biz: dict[str, Any], **extra: str) -> dict[str, str]:
        if self._keys.app_private_key is None:
            raise ProviderConfigError("alipay: `app_private_key` is missing")
        params = {"app_id": self._app_id, "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "timestamp": self._beijing(self._clock()), "version": "1.0",
                  "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":"))}
        if self._keys.app_cert_sn:
            params["app_cert_sn"] = self._keys.app_cert_sn
            params["alipay_root_cert_sn"] = self._keys.alipay_root_cert_sn or ""
        params.update({k: v for k, v in extra.items() if v})
        params["sign"] = rsa2_sign(self._keys.app_private_key, request_sign_content(params).encode("utf-8"))
        return params

    # -- gateway calls ---------------------------------------------------------------------------

    def _call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        """One gateway call; returns the verified `…_response` object (any `code`)."""
        params = self._signed(method, biz)
        # As Alipay's SDKs do: the common parameters in the URL (so the charset is known before the body is
        # read), the business ones in the form body.
        content = {"biz_content": params.pop("biz_content")}
        transport = self._transport or default_transport()
        answer = transport.send("POST", self._gateway + "?" + urlencode(params),
                                {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
                                 "Accept": "application/json"}, urlencode(content).encode())
        if answer.status != 200:
            raise AlipayError("unreadable", f"http {answer.status}")
        return self._verified(answer.body, method)

    def _verified(self, raw: bytes, method: str) -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
            spans = top_level_spans(text)
            whole = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise AlipayError("unreadable") from None
        name = method.replace(".", "_") + "_response"
        name = name if name in spans else "error_response"
        if name not in spans or not isinstance(whole.get(name), dict):
            raise AlipayError("unreadable")
        start, end = spans[name]
        data = whole[name]
        signature = whole.get("sign")
        signer_sn = whole.get("alipay_cert_sn")
        if self._keys.alipay_cert_sn and signer_sn and signer_sn != self._keys.alipay_cert_sn:
            # Alipay signed with another certificate than ours (it renewed it): the secret needs the new one.
            raise AlipayError("unverifiable", "alipay_cert_sn")
        if not isinstance(signature, str) or not rsa_sha256_verifies(
                self._keys.alipay_public_key, text[start:end].encode("utf-8"), signature):
            # Alipay leaves some gateway errors unsigned (a request it could not authenticate): an error either
            # way, never trusted as a result.
            raise AlipayError(str(data.get("code", "")) or "unsigned", str(data.get("sub_code", "unsigned")))
        return data

    @staticmethod
    def _error(data: dict[str, Any]) -> AlipayError:
        return AlipayError(str(data.get("code", "")), str(data.get("sub_code", "")))

    def query(self, payment: Payment) -> Notice | None:
        """alipay.trade.query: a Notice once paid (TRADE_SUCCESS/TRADE_FINISHED) or closed; None while the owner
        may still pay (WAIT_BUYER_PAY, or no trade yet: Alipay creates it when the cashier opens)."""
        data = self._call("alipay.trade.query", {"out_trade_no": payment.payment_id})
        if data.get("code") != SUCCESS_CODE:
            if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return None
            raise self._error(data)
        if data.get("out_trade_no") != payment.payment_id:
            raise AlipayError("mismatch", "out_trade_no")
        status = data.get("trade_status")
        if status not in (*PAID, "TRADE_CLOSED"):
            return None
        amount = cents_of(data.get("total_amount"))
        if amount is None:
            raise AlipayError("mismatch", "total_amount")
        return Notice(self.name, payment.payment_id, str(data.get("trade_no", "")), amount, status in PAID)

    def close(self, payment: Payment) -> None:
        """alipay.trade.close. A trade Alipay never created (the cashier was not opened) is closed already; a
        trade in another state (paid) raises `AlipayError` ACQ.TRADE_STATUS_ERROR: query it."""
        data = self._call("alipay.trade.close", {"out_trade_no": payment.payment_id})
        if data.get("code") != SUCCESS_CODE and data.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise self._error(data)

    def refund(self, request: RefundRequest) -> RefundResult:
        """alipay.trade.refund, `out_request_no` = our refund id (idempotent; partial refunds allowed).
        `fund_change` Y is a refund done; N (a repeat) or an unknown outcome is pending: `query_refund` tells."""
        biz = {"out_trade_no": request.payment_id, "refund_amount": yuan(request.amount_cents),
               "out_request_no": request.refund_id, "refund_reason": request.reason[:256]}
        if request.provider_txn_id:
            biz["trade_no"] = request.provider_txn_id
        try:
            data = self._call("alipay.trade.refund", biz)
        except AlipayError as error:
            if error.outcome_unknown:
                return RefundResult("pending")
            raise
        if data.get("code") == SUCCESS_CODE:
            return RefundResult("succeeded" if data.get("fund_change") == "Y" else "pending")
        if self._error(data).outcome_unknown:
            return RefundResult("pending")
        return RefundResult("failed")

    def query_refund(self, request: RefundRequest) -> RefundResult:
        """alipay.trade.fastpay.refund.query: REFUND_SUCCESS is done. Alipay answers no status for a refund it
        did not receive or did not complete, and says to send it again with the same `out_request_no`: done."""
        data = self._call("alipay.trade.fastpay.refund.query",
                          {"out_trade_no": request.payment_id, "out_request_no": request.refund_id,
                           "query_options": ["gmt_refund_pay"]})
        if data.get("code") != SUCCESS_CODE:
            if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return RefundResult("failed")
            if self._error(data).outcome_unknown:
                return RefundResult("pending")
            raise self._error(data)
        if data.get("refund_status") == "REFUND_SUCCESS":
            if cents_of(data.get("refund_amount")) != request.amount_cents:
                raise AlipayError("mismatch", "refund_amount")
            return RefundResult("succeeded")
        return self.refund(request)

    # -- notices ---------------------------------------------------------------------------------

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice | RefundNotice:
        """Verify an asynchronous notice exactly as posted (UTF-8 or GBK form body), then its merchant. A notice
        carrying `out_biz_no` and `refund_fee`/`gmt_refund` is about a refund (its `amount_cents` is Alipay's
        `refund_fee`: the trade's total refunded so far)."""
        params, codec = decode_form(raw, header(headers, "Content-Type"))
        if params.get("sign_type", "RSA2") != "RSA2" or not params.get("sign"):
            raise InvalidSignature()
        if not rsa_sha256_verifies(self._keys.alipay_public_key, alipay_sign_content(params).encode(codec),
                                   params["sign"]):
            raise InvalidSignature()
        if params.get("app_id") != self._app_id or params.get("seller_id") != self._seller_id:
            raise CallbackRejected("The notice is for another merchant.")
        if params.get("out_biz_no") and (params.get("refund_fee") or params.get("gmt_refund")):
            return self._refund_notice(params)
        status = params.get("trade_status", "")
        if status not in (*PAID, "TRADE_CLOSED"):
            raise CallbackRejected("The trade status is not final.")
        amount = cents_of(params.get("total_amount"))
        if amount is None:
            raise CallbackRejected("The notice has no valid amount.")
        return Notice(self.name, params.get("out_trade_no", ""), params.get("trade_no", ""), amount, status in PAID)

    def _refund_notice(self, params: dict[str, str]) -> RefundNotice:
        amount = cents_of(params.get("refund_fee"))
        if amount is None:
            raise CallbackRejected("The notice has no valid refund amount.")
        return RefundNotice(self.name, params["out_biz_no"], params.get("out_trade_no", ""),
                            params.get("trade_no", ""), amount, "succeeded")


def _url(config: dict[str, Any], name: str, required: bool) -> str | None:
    value = _field(config, name, required)
    if value is not None and not re.fullmatch(r"https?://[^\s]+", value):
        raise ProviderConfigError(f"alipay: `{name}` must be an http(s) URL")
    return value


def from_config(config: dict[str, str], *, notify_url: str, transport: Transport | None = None) -> AlipayProvider:
    """The provider for Alipay's secret (fields in the module docstring); `ProviderConfigError` names the first
    unusable field. `notify_url`: where Alipay posts notices (our public callback URL)."""
    if not isinstance(config, dict):
        raise ProviderConfigError("alipay: the secret must be a JSON object")
    app_id = _field(config, "app_id") or ""
    if not app_id.isascii() or not app_id.isdigit():
        raise ProviderConfigError("alipay: `app_id` is malformed")
    seller_id = _field(config, "seller_id") or ""
    if not re.fullmatch(r"2088\d{12}", seller_id):
        raise ProviderConfigError("alipay: `seller_id` is malformed")
    keys = keys_from_config(config)
    gateway = _url(config, "gateway", required=False) or GATEWAY
    return_url = _url(config, "return_url", required=False)
    if not re.fullmatch(r"https?://[^\s]+", notify_url or ""):
        raise ProviderConfigError("alipay: `notify_url` must be an http(s) URL")
    return AlipayProvider(app_id, seller_id, keys.alipay_public_key, notify_url=notify_url, transport=transport,
                          gateway=gateway, return_url=return_url, keys=keys)
