"""Provider notices verified to the providers' specifications, with keys generated here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.payments.alipay import AlipayProvider, alipay_sign_content
from chalicelib.adapters.payments.common import InvalidSignature
from chalicelib.adapters.payments.sandbox import SandboxProvider
from chalicelib.adapters.payments.wechat import WechatPayProvider
from chalicelib.domain.payments import CallbackRejected


def _keypair():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


def _sign(key, message: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_sandbox_accepts_only_its_hmac():
    provider = SandboxProvider("s3cret")
    raw = json.dumps({"payment_id": "pay_1", "provider_txn_id": "t1", "amount_cents": 100,
                      "status": "succeeded"}).encode()
    good = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    notice = provider.parse({"X-Sandbox-Signature": good}, raw)
    assert notice.succeeded and notice.amount_cents == 100
    with pytest.raises(InvalidSignature):
        provider.parse({"X-Sandbox-Signature": good}, raw.replace(b"100", b"1"))


def _alipay_body(key, **over):
    params = {"app_id": "2021000", "seller_id": "2088000", "out_trade_no": "pay_1", "trade_no": "2026112522001",
              "total_amount": "123.45", "trade_status": "TRADE_SUCCESS", "notify_time": "2026-11-25 14:00:00",
              "charset": "utf-8", "sign_type": "RSA2", **over}
    params["sign"] = _sign(key, alipay_sign_content(params).encode())
    return urlencode(params).encode(), params


def test_alipay_notice_verifies_rsa2_over_sorted_parameters():
    key, pem = _keypair()
    provider = AlipayProvider("2021000", "2088000", pem)
    raw, _ = _alipay_body(key)
    notice = provider.parse({}, raw)
    assert (notice.payment_id, notice.amount_cents, notice.succeeded) == ("pay_1", 12345, True)
    assert provider.success.body == "success"


def test_alipay_notice_rejects_tampering_and_other_merchants():
    key, pem = _keypair()
    provider = AlipayProvider("2021000", "2088000", pem)
    raw, _ = _alipay_body(key)
    with pytest.raises(InvalidSignature):
        provider.parse({}, raw.replace(b"123.45", b"0.01"))
    other, _ = _alipay_body(key, seller_id="2088999")
    with pytest.raises(CallbackRejected):
        provider.parse({}, other)
    stranger, _ = _keypair()
    forged, _ = _alipay_body(stranger)
    with pytest.raises(InvalidSignature):
        provider.parse({}, forged)


def _wechat_callback(key, api_key: bytes, now: int, **transaction):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    plain = {"mchid": "1900000", "appid": "wx123", "out_trade_no": "pay_1", "transaction_id": "4200001",
             "trade_state": "SUCCESS", "amount": {"total": 12345, "payer_total": 12345, "currency": "CNY"},
             **transaction}
    nonce = os.urandom(6).hex()
    cipher = AESGCM(api_key).encrypt(nonce.encode(), json.dumps(plain).encode(), b"transaction")
    body = json.dumps({"id": "evt", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(cipher).decode(),
                                    "associated_data": "transaction", "nonce": nonce,
                                    "original_type": "transaction"}}).encode()
    header_nonce = "n0nce"
    signature = _sign(key, f"{now}\n{header_nonce}\n{body.decode()}\n".encode())
    headers = {"Wechatpay-Timestamp": str(now), "Wechatpay-Nonce": header_nonce, "Wechatpay-Signature": signature,
               "Wechatpay-Serial": "SERIAL1"}
    return headers, body


def test_wechat_callback_verifies_signature_and_decrypts_resource():
    key, pem = _keypair()
    api_key = os.urandom(16).hex().encode()  # 32 bytes, as the APIv3 key
    provider = WechatPayProvider("1900000", "wx123", api_key.decode(), {"SERIAL1": pem})
    headers, body = _wechat_callback(key, api_key, 1_800_000_000)
    notice = provider.parse(headers, body, now=1_800_000_010)
    assert (notice.payment_id, notice.amount_cents, notice.provider_txn_id) == ("pay_1", 12345, "4200001")
    assert provider.success.status == 204


def test_wechat_callback_rejects_bad_signature_serial_age_and_merchant():
    key, pem = _keypair()
    api_key = os.urandom(16).hex().encode()
    provider = WechatPayProvider("1900000", "wx123", api_key.decode(), {"SERIAL1": pem})
    headers, body = _wechat_callback(key, api_key, 1_800_000_000)
    with pytest.raises(InvalidSignature):
        provider.parse(headers, body.replace(b"evt", b"evx"), now=1_800_000_000)
    with pytest.raises(InvalidSignature):
        provider.parse({**headers, "Wechatpay-Serial": "OTHER"}, body, now=1_800_000_000)
    with pytest.raises(InvalidSignature):
        provider.parse(headers, body, now=1_800_001_000)
    headers, body = _wechat_callback(key, api_key, 1_800_000_000, mchid="1999999")
    with pytest.raises(CallbackRejected):
        provider.parse(headers, body, now=1_800_000_000)
