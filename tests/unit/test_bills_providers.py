"""Provider notices verified to the providers' specifications, with keys generated here (WeChat Pay:
tests/unit/test_wechat_pay.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.payments.alipay import AlipayProvider, alipay_sign_content
from chalicelib.adapters.payments.common import InvalidSignature
from chalicelib.adapters.payments.sandbox import SandboxProvider
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
