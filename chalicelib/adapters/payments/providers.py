"""Payment providers behind one interface: the sandbox (local/test), Alipay and WeChat Pay v3.

Each provider turns a raw callback (headers + body) into a verified `Notice`, or raises `InvalidSignature`
before anything is read from it. `cryptography` is imported inside the functions that verify RSA/AES-GCM.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from chalicelib.domain.payments import CallbackRejected, MethodUnavailable, Notice, Payment
from chalicelib.errors import Unauthenticated


class InvalidSignature(Unauthenticated):
    code = "invalid_signature"
    message = "The notice's signature does not verify."


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = "application/json; charset=utf-8"


def _header(headers: dict[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(name.lower(), "")


# -- sandbox --------------------------------------------------------------------------------------


class SandboxProvider:
    """HMAC-SHA256 over the raw body with SANDBOX_PAYMENT_SECRET (API.md §6)."""

    name = "sandbox"
    success = Reply(200, '{"ok":true}')

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, raw: bytes) -> str:
        return hmac.new(self._secret, raw, hashlib.sha256).hexdigest()

    def payload(self, payment: Payment) -> dict[str, Any]:
        """A pay link the local tools can follow: it names the payment and is signed and short-lived."""
        query = {"payment_id": payment.payment_id, "amount_cents": str(payment.amount_cents),
                 "expires_at": str(payment.expires_at)}
        token = self.sign(urlencode(sorted(query.items())).encode())
        return {"pay_url": "sandbox://pay?" + urlencode({**query, "token": token})}

    def verify_pay_link(self, query: dict[str, str]) -> bool:
        fields = {k: query.get(k, "") for k in ("payment_id", "amount_cents", "expires_at")}
        expected = self.sign(urlencode(sorted(fields.items())).encode())
        return hmac.compare_digest(expected, query.get("token", "")) and int(fields["expires_at"] or 0) > time.time()

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice:
        if not hmac.compare_digest(self.sign(raw), _header(headers, "X-Sandbox-Signature")):
            raise InvalidSignature()
        try:
            body = json.loads(raw)
            status = body["status"]
            amount = body["amount_cents"]
            if status not in ("succeeded", "failed") or isinstance(amount, bool) or not isinstance(amount, int):
                raise ValueError
            return Notice(self.name, str(body["payment_id"]), str(body["provider_txn_id"]), amount,
                          status == "succeeded")
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("The notice is malformed.") from None


# -- Alipay ---------------------------------------------------------------------------------------


def _load_public_key(pem: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = pem.strip()
    if "BEGIN" not in text:  # Alipay publishes the bare base64 key
        text = "-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----"
    return load_pem_public_key(text.encode())


def _rsa_sha256_verifies(public_key: Any, message: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature as CryptoInvalid
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (CryptoInvalid, ValueError):
        return False
    return True


def alipay_sign_content(params: dict[str, str]) -> str:
    """Alipay's string to sign for async notices: every parameter but `sign` and `sign_type`, non-empty,
    sorted by name, as `k=v` joined by `&` (values URL-decoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")


class AlipayProvider:
    """Alipay asynchronous notify (RSA2): verify, then check app id, seller id, amount and trade status."""

    name = "alipay"
    success = Reply(200, "success", "text/plain; charset=utf-8")

    def __init__(self, app_id: str, seller_id: str, alipay_public_key: str):
        self._app_id = app_id
        self._seller_id = seller_id
        self._public_key_pem = alipay_public_key

    def payload(self, payment: Payment) -> dict[str, Any]:
        return {"out_trade_no": payment.payment_id, "total_amount": f"{Decimal(payment.amount_cents) / 100:.2f}",
                "app_id": self._app_id}

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice:
        params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if params.get("sign_type", "RSA2") != "RSA2" or not params.get("sign"):
            raise InvalidSignature()
        if not _rsa_sha256_verifies(_load_public_key(self._public_key_pem), alipay_sign_content(params).encode(),
                                    params["sign"]):
            raise InvalidSignature()
        if params.get("app_id") != self._app_id or params.get("seller_id") != self._seller_id:
            raise CallbackRejected("The notice is for another merchant.")
        status = params.get("trade_status", "")
        if status not in ("TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"):
            raise CallbackRejected("The trade status is not final.")
        try:
            amount = Decimal(params["total_amount"]) * 100
        except (KeyError, InvalidOperation):
            raise CallbackRejected("The notice has no valid amount.") from None
        if amount != amount.to_integral_value():
            raise CallbackRejected("The notice has no valid amount.")
        return Notice(self.name, params.get("out_trade_no", ""), params.get("trade_no", ""), int(amount),
                      status != "TRADE_CLOSED")


# -- WeChat Pay v3 --------------------------------------------------------------------------------


class WechatPayProvider:
    """WeChat Pay API v3 callbacks: RSA-SHA256 over `timestamp\\nnonce\\nbody\\n` with the platform certificate
    named by `Wechatpay-Serial`, then AES-256-GCM decryption of `resource` with the APIv3 key."""

    name = "wechat"
    success = Reply(204, "")
    MAX_SKEW_SECONDS = 300

    def __init__(self, mch_id: str, app_id: str, api_v3_key: str, platform_keys: dict[str, str]):
        self._mch_id = mch_id
        self._app_id = app_id
        self._api_v3_key = api_v3_key.encode()
        self._platform_keys = platform_keys  # certificate serial → PEM public key (or certificate)

    def payload(self, payment: Payment) -> dict[str, Any]:
        return {"out_trade_no": payment.payment_id, "amount": {"total": payment.amount_cents, "currency": "CNY"},
                "appid": self._app_id, "mchid": self._mch_id}

    def _public_key(self, serial: str) -> Any:
        pem = self._platform_keys.get(serial)
        if pem is None:
            raise InvalidSignature("Unknown platform certificate.")
        if "CERTIFICATE" in pem:
            from cryptography.x509 import load_pem_x509_certificate

            return load_pem_x509_certificate(pem.encode()).public_key()
        return _load_public_key(pem)

    def parse(self, headers: dict[str, str], raw: bytes, now: float | None = None) -> Notice:
        timestamp, nonce = _header(headers, "Wechatpay-Timestamp"), _header(headers, "Wechatpay-Nonce")
        signature, serial = _header(headers, "Wechatpay-Signature"), _header(headers, "Wechatpay-Serial")
        if not (timestamp.isascii() and timestamp.isdigit() and nonce and signature and serial):
            raise InvalidSignature()
        if abs((now if now is not None else time.time()) - int(timestamp)) > self.MAX_SKEW_SECONDS:
            raise InvalidSignature("The notice is too old.")
        message = f"{timestamp}\n{nonce}\n{raw.decode('utf-8', 'replace')}\n".encode()
        if not _rsa_sha256_verifies(self._public_key(serial), message, signature):
            raise InvalidSignature()
        try:
            resource = json.loads(raw)["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise ValueError
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            plain = AESGCM(self._api_v3_key).decrypt(resource["nonce"].encode(),
                                                     base64.b64decode(resource["ciphertext"]),
                                                     (resource.get("associated_data") or "").encode())
            transaction = json.loads(plain)
        except Exception:  # noqa: BLE001 - any decoding/decryption problem means the same: reject
            raise CallbackRejected("The notice's resource cannot be decrypted.") from None
        if transaction.get("mchid") != self._mch_id or transaction.get("appid") != self._app_id:
            raise CallbackRejected("The notice is for another merchant.")
        state = transaction.get("trade_state")
        if state not in ("SUCCESS", "CLOSED", "PAYERROR", "REVOKED"):
            raise CallbackRejected("The trade state is not final.")
        amount = (transaction.get("amount") or {}).get("total")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise CallbackRejected("The notice has no valid amount.")
        return Notice(self.name, str(transaction.get("out_trade_no", "")), str(transaction.get("transaction_id", "")),
                      amount, state == "SUCCESS")


# -- the registry ---------------------------------------------------------------------------------


class Providers:
    """Which provider serves which method in this stage. In local/test the sandbox stands in for every method."""

    def __init__(self, by_name: dict[str, Any], sandbox_for_all: bool):
        self._by_name = by_name
        self._sandbox_for_all = sandbox_for_all

    def for_method(self, method: str) -> Any:
        if self._sandbox_for_all and "sandbox" in self._by_name:
            return self._by_name["sandbox"]
        provider = self._by_name.get(method) if method != "sandbox" else None
        if provider is None:
            raise MethodUnavailable(details={"method": method})
        return provider

    def for_callback(self, name: str) -> Any | None:
        return self._by_name.get(name)


def build_providers(settings: Any) -> Providers:
    by_name: dict[str, Any] = {}
    if settings.is_test_stage and settings.sandbox_payment_secret:
        by_name["sandbox"] = SandboxProvider(settings.sandbox_payment_secret)
    s = settings
    if s.alipay_app_id and s.alipay_seller_id and s.alipay_public_key:
        by_name["alipay"] = AlipayProvider(s.alipay_app_id, s.alipay_seller_id, s.alipay_public_key)
    if s.wechat_mch_id and s.wechat_app_id and s.wechat_api_v3_key and s.wechat_platform_keys:
        by_name["wechat"] = WechatPayProvider(settings.wechat_mch_id, settings.wechat_app_id,
                                              settings.wechat_api_v3_key, json.loads(settings.wechat_platform_keys))
    return Providers(by_name, settings.is_test_stage)
