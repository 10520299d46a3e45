"""WeChat Pay API v3: signed, AES-GCM encrypted notices verified to WeChat Pay's published specification."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from chalicelib.adapters.payments.common import InvalidSignature, Reply, header, load_public_key, rsa_sha256_verifies
from chalicelib.domain.payments import CallbackRejected, Notice, PayContext, Payment


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

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        return {"out_trade_no": payment.payment_id, "amount": {"total": payment.amount_cents, "currency": "CNY"},
                "appid": self._app_id, "mchid": self._mch_id}

    def _public_key(self, serial: str) -> Any:
        pem = self._platform_keys.get(serial)
        if pem is None:
            raise InvalidSignature("Unknown platform certificate.")
        if "CERTIFICATE" in pem:
            from cryptography.x509 import load_pem_x509_certificate

            return load_pem_x509_certificate(pem.encode()).public_key()
        return load_public_key(pem)

    def parse(self, headers: dict[str, str], raw: bytes, now: float | None = None) -> Notice:
        timestamp, nonce = header(headers, "Wechatpay-Timestamp"), header(headers, "Wechatpay-Nonce")
        signature, serial = header(headers, "Wechatpay-Signature"), header(headers, "Wechatpay-Serial")
        if not (timestamp.isascii() and timestamp.isdigit() and nonce and signature and serial):
            raise InvalidSignature()
        if abs((now if now is not None else time.time()) - int(timestamp)) > self.MAX_SKEW_SECONDS:
            raise InvalidSignature("The notice is too old.")
        message = f"{timestamp}\n{nonce}\n{raw.decode('utf-8', 'replace')}\n".encode()
        if not rsa_sha256_verifies(self._public_key(serial), message, signature):
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
