"""WeChat Pay API v3: the adapter against the local WeChat Pay emulator, both checked with the wechatpayv3 SDK
(requests signed, notices signed and decrypted, answers verified) so that neither is checked only against itself."""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
from wechatpayv3 import utils as sdk
from wechatpayv3.core import Core

from chalicelib.adapters.payments.common import InvalidSignature, ProviderConfigError
from chalicelib.adapters.payments.http import HttpAnswer, ProviderUnreachable
from chalicelib.adapters.payments.wechat import (
    ProviderRefused,
    WechatPayProvider,
    beijing_time,
    from_config,
)
from chalicelib.domain.payments import (
    CallbackRejected,
    Notice,
    PayContext,
    Payment,
    RefundNotice,
    RefundRequest,
    RefundResult,
)
from chalicelib.errors import Unavailable, ValidationFailed
from devstack.emulators import EmuRequest, InProcessTransport
from devstack.emulators.wechat import WechatPayEmulator

MCH_ID = "1900000109"
APP_ID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
NOTIFY_URL = "https://owner.example.com/payments/callbacks/wechat"
API_BASE = "https://api.mch.weixin.qq.com.emulated/wechat"


@functools.cache
def key_pair(n: int) -> tuple[str, str]:
    """Test key number `n` (made once per run: making RSA keys is slow); distinct numbers, distinct keys."""
    return rsa_pair()


def rsa_pair() -> tuple[str, str]:
    """(PKCS#8 private PEM, public PEM) of a new RSA-2048 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@dataclass
class Merchant:
    """One merchant: its keys, WeChat Pay's emulator, and our adapter wired to it in-process."""

    private_pem: str
    public_pem: str
    api_v3_key: str
    emulator: WechatPayEmulator
    transport: InProcessTransport
    provider: WechatPayProvider
    config: dict[str, Any]

    def sdk_core(self) -> Core:
        """The wechatpayv3 SDK as this merchant (platform public key mode: it needs no download)."""
        return Core(mchid=MCH_ID, cert_serial_no=MERCHANT_SERIAL, private_key=self.private_pem,
                    apiv3_key=self.api_v3_key, public_key=self.emulator.platform_public_key_pem,
                    public_key_id=self.emulator.platform_serial)


def merchant(mode: str = "public_key", notify_url: str = NOTIFY_URL, platform: int = 1,
             **emulator_options: Any) -> Merchant:
    """Merchant key 0; WeChat Pay's platform key `platform`."""
    private_pem, public_pem = key_pair(0)
    api_v3_key = os.urandom(16).hex()  # 32 characters, as WeChat Pay's APIv3 keys
    emulator = WechatPayEmulator(mch_id=MCH_ID, app_id=APP_ID, api_v3_key=api_v3_key, merchant_public_key=public_pem,
                                 merchant_serial_no=MERCHANT_SERIAL, mode=mode,
                                 platform_private_key=key_pair(platform)[0], **emulator_options)
    transport = InProcessTransport(emulator)
    config = {"mch_id": MCH_ID, "app_id": APP_ID, "merchant_private_key": private_pem,
              "merchant_serial_no": MERCHANT_SERIAL, "api_v3_key": api_v3_key, "api_base": API_BASE,
              **emulator.platform_config()}
    provider = from_config(config, notify_url=notify_url, transport=transport)
    return Merchant(private_pem, public_pem, api_v3_key, emulator, transport, provider, config)


def payment(payment_id: str = "pay_0123456789abcdef01234567", amount: int = 12345, bills: int = 2) -> Payment:
    now = int(time.time())
    return Payment(payment_id, "u_1", tuple(f"bl_{i}" for i in range(bills)), ("un_1",), "c_1", amount, "wechat",
                   "wechat", "pending", "2026-12-02T10:00:00Z", now + 900)


def sdk_signed_notice(platform_private_pem: str, serial: str, api_v3_key: str, event_type: str,
                      resource: dict[str, Any], timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """A notice built the published way, independently of our code: the body signed with the SDK's RSA signer,
    the resource encrypted with AES-256-GCM directly."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(6).hex()
    original = "refund" if event_type.startswith("REFUND.") else "transaction"
    cipher = AESGCM(api_v3_key.encode()).encrypt(nonce.encode(), json.dumps(resource).encode(), original.encode())
    body = json.dumps({"id": "EV-1", "create_time": "2026-12-02T18:00:00+08:00", "event_type": event_type,
                       "resource_type": "encrypt-resource", "summary": "通知",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(cipher).decode(),
                                    "associated_data": original, "nonce": nonce, "original_type": original}})
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    header_nonce = os.urandom(8).hex()
    signature = sdk.rsa_sign(sdk.load_private_key(platform_private_pem), f"{stamp}\n{header_nonce}\n{body}\n")
    return ({"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": header_nonce, "Wechatpay-Signature": signature,
             "Wechatpay-Serial": serial, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}, body.encode())


def transaction(**over: Any) -> dict[str, Any]:
    return {"mchid": MCH_ID, "appid": APP_ID, "out_trade_no": "pay_1", "transaction_id": "4200001",
            "trade_type": "JSAPI", "trade_state": "SUCCESS", "payer": {"openid": "oUser"},
            "amount": {"total": 12345, "payer_total": 12345, "currency": "CNY"}, **over}


def pinned(platform_public_pem: str, serial: str, api_v3_key: str, **over: Any) -> WechatPayProvider:
    """An adapter that trusts one platform public key (no emulator needed: notices only)."""
    private, _ = key_pair(0)
    config = {"mch_id": MCH_ID, "app_id": APP_ID, "merchant_private_key": private,
              "merchant_serial_no": MERCHANT_SERIAL, "api_v3_key": api_v3_key,
              "platform_public_key": platform_public_pem, "platform_public_key_id": serial, **over}
    return from_config(config, notify_url=NOTIFY_URL, transport=InProcessTransport())


# -- requests -------------------------------------------------------------------------------------


def test_wechat_authorization_header_is_the_one_the_sdk_builds(monkeypatch):
    # given
    m = merchant()
    # when
    m.provider.payload(payment(), PayContext("jsapi", "oUser1"))
    # then: the very header wechatpayv3 builds for the same request, nonce and second (PKCS#1 v1.5 is
    # deterministic), so the SDK and we sign the same string with the same key
    sent = m.transport.sent[-1]
    authorization = sent.header("Authorization")
    fields = dict(part.split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    nonce, stamp = fields["nonce_str"].strip('"'), fields["timestamp"].strip('"')
    monkeypatch.setattr(sdk.time, "time", lambda: float(stamp))
    expected = sdk.build_authorization("/v3/pay/transactions/jsapi", "POST", MCH_ID, MERCHANT_SERIAL,
                                       sdk.load_private_key(m.private_pem), data=sent.body.decode(), nonce_str=nonce)
    assert authorization == expected
    assert sent.header("User-Agent") and sent.header("Accept") == "application/json"
    assert sent.header("Wechatpay-Serial") == m.emulator.platform_serial


def test_wechat_emulator_accepts_sdk_signed_requests_and_refuses_bad_ones():
    m = merchant()
    m.provider.payload(payment(), PayContext("jsapi", "oUser1"))
    target = f"/v3/pay/transactions/out-trade-no/{payment().payment_id}?mchid={MCH_ID}"
    key = sdk.load_private_key(m.private_pem)

    def ask(authorization: str, query: str = f"mchid={MCH_ID}"):
        return m.emulator.handle(EmuRequest("GET", target.split("?")[0], query,
                                            {"Authorization": authorization, "User-Agent": "sdk"}, b""))

    good = ask(sdk.build_authorization(target, "GET", MCH_ID, MERCHANT_SERIAL, key))
    assert good.status == 200 and json.loads(good.body)["trade_state"] == "NOTPAY"
    # the SDK verifies the emulator's answer as it verifies WeChat Pay's
    assert m.sdk_core()._verify_signature(good.headers, good.body.decode())
    other_key = sdk.load_private_key(key_pair(3)[0])
    forged = ask(sdk.build_authorization(target, "GET", MCH_ID, MERCHANT_SERIAL, other_key))
    assert forged.status == 401 and json.loads(forged.body)["code"] == "SIGN_ERROR"
    # signed for another query string (mchid) than the one sent
    moved = ask(sdk.build_authorization(target, "GET", MCH_ID, MERCHANT_SERIAL, key), query="mchid=1900000999")
    assert moved.status == 401


def test_wechat_jsapi_order_gives_the_signed_parameters_for_the_wechat_browser():
    m = merchant()
    p = payment(bills=3)
    # when
    params = m.provider.payload(p, PayContext("jsapi", "oUser1", "203.0.113.7"))
    # then: the order as WeChat Pay's JSAPI order specifies it
    order = json.loads(m.transport.sent[-1].body)
    assert m.transport.sent[-1].path == "/v3/pay/transactions/jsapi"
    assert order["payer"] == {"openid": "oUser1"} and order["notify_url"] == NOTIFY_URL
    assert order["amount"] == {"total": 12345, "currency": "CNY"}
    assert order["out_trade_no"] == p.payment_id and (order["appid"], order["mchid"]) == (APP_ID, MCH_ID)
    assert order["time_expire"].endswith("+08:00")
    from datetime import datetime

    assert datetime.fromisoformat(order["time_expire"]).timestamp() == p.expires_at
    assert "物业" in order["description"] and "3" in order["description"]
    # and what getBrandWCPayRequest takes, paySign being the SDK's own signature of the same four values
    prepay_id = m.emulator.orders[p.payment_id].prepay_id
    assert params["package"] == f"prepay_id={prepay_id}" and params["signType"] == "RSA"
    assert params["appId"] == APP_ID
    expected = m.sdk_core().sign([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
    assert params["paySign"] == expected


def test_wechat_jsapi_without_openid_is_a_field_error_and_asks_nothing():
    m = merchant()
    with pytest.raises(ValidationFailed) as raised:
        m.provider.payload(payment(), PayContext("jsapi", None))
    assert "openid" in raised.value.details["fields"]
    assert m.transport.sent == [] and m.emulator.orders == {}


def test_wechat_h5_order_sends_the_payer_ip_and_gives_h5_url():
    m = merchant()
    p = payment()
    params = m.provider.payload(p, PayContext("h5", None, "203.0.113.7"))
    order = json.loads(m.transport.sent[-1].body)
    assert m.transport.sent[-1].path == "/v3/pay/transactions/h5"
    assert order["scene_info"] == {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}}
    assert params["h5_url"].startswith("https://wx.tenpay.com/")
    assert m.emulator.orders[p.payment_id].trade_type == "MWEB"
    # the default channel is H5 (a phone browser)
    assert "h5_url" in m.provider.payload(payment("pay_other0000000000000000000"), PayContext("", None, "::1"))


def test_wechat_h5_without_payer_address_is_unavailable():
    m = merchant()
    with pytest.raises(Unavailable):
        m.provider.payload(payment(), PayContext("h5", None, "unknown"))
    assert m.emulator.orders == {}


def test_wechat_order_asked_again_is_the_same_order():
    # a lost answer: the order is asked again and WeChat Pay finds the same one, not a duplicate
    m = merchant()
    first = m.provider.payload(payment(), PayContext("jsapi", "oUser1"))
    second = m.provider.payload(payment(), PayContext("jsapi", "oUser1"))
    assert first["package"] == second["package"] and len(m.emulator.orders) == 1
    assert m.emulator.requests_refused == []


class _Tampering:
    """A transport that alters the answers on the way back (as a proxy in the middle would)."""

    def __init__(self, inner: InProcessTransport, alter):
        self._inner, self._alter = inner, alter

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> HttpAnswer:
        return self._alter(self._inner.send(method, url, headers, body))


@pytest.mark.parametrize("alter", [
    lambda a: replace(a, body=a.body.replace(b'": "wx', b'": "wX', 1)),
    lambda a: replace(a, headers={k: v for k, v in a.headers.items() if k != "Wechatpay-Signature"}),
    lambda a: replace(a, headers={**a.headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000001"}),
    lambda a: replace(a, headers={**a.headers, "Wechatpay-Timestamp": str(int(time.time()) - 3600)}),
], ids=["tampered-body", "unsigned", "unknown-key", "stale"])
def test_wechat_unverified_answers_are_not_trusted(alter):
    m = merchant()
    provider = from_config(m.config, notify_url=NOTIFY_URL, transport=_Tampering(m.transport, alter))
    with pytest.raises(Unavailable):
        provider.payload(payment(), PayContext("jsapi", "oUser1"))


def test_wechat_answers_signed_by_another_key_are_not_trusted():
    m = merchant()
    impostor = merchant(platform=2)  # another "WeChat Pay" with its own platform key, under the same key id
    impostor.emulator.platform_serial = m.emulator.platform_serial
    impostor.emulator._merchant_key = m.emulator._merchant_key
    provider = from_config(m.config, notify_url=NOTIFY_URL, transport=InProcessTransport(impostor.emulator))
    with pytest.raises(Unavailable):
        provider.payload(payment(), PayContext("jsapi", "oUser1"))


def test_wechat_certificate_serials_compare_case_insensitively():
    m = merchant(mode="certificate")
    serial = m.emulator.platform_serial
    m.emulator.platform_serial = serial.lower()  # WeChat Pay's header and our config may differ in case
    config = {**m.config, "platform_certificates": {serial.lower(): m.emulator.certificate_pem}}
    provider = from_config(config, notify_url=NOTIFY_URL, transport=m.transport)
    assert provider.payload(payment(), PayContext("jsapi", "oUser1"))["signType"] == "RSA"
    notice = provider.parse(*m.emulator.pay(payment().payment_id))
    assert isinstance(notice, Notice) and notice.succeeded


def test_wechat_request_refused_for_its_signature_gives_no_order():
    m = merchant()
    config = {**m.config, "merchant_private_key": key_pair(3)[0]}  # not the key WeChat Pay knows
    provider = from_config(config, notify_url=NOTIFY_URL, transport=m.transport)
    with pytest.raises(Unavailable):
        provider.payload(payment(), PayContext("jsapi", "oUser1"))
    assert m.emulator.requests_refused == ["SIGN_ERROR"] and m.emulator.orders == {}


# -- notices --------------------------------------------------------------------------------------


def test_wechat_payment_notice_from_the_emulator_verifies_here_and_in_the_sdk():
    m = merchant()
    p = payment()
    m.provider.payload(p, PayContext("jsapi", "oUser1"))
    headers, body = m.emulator.pay(p.payment_id)
    notice = m.provider.parse(headers, body)
    transaction_id = m.emulator.orders[p.payment_id].transaction_id
    assert notice == Notice("wechat", p.payment_id, transaction_id, 12345, True)
    decoded = m.sdk_core().callback(headers, body)
    assert decoded["event_type"] == "TRANSACTION.SUCCESS"
    assert decoded["resource"]["trade_state"] == "SUCCESS" and decoded["resource"]["out_trade_no"] == p.payment_id
    assert m.provider.success.status == 204


def _platform() -> tuple[str, str, str, str]:
    private, public = key_pair(1)
    return private, public, "PUB_KEY_ID_0114232134912410000000000000001", os.urandom(16).hex()


def test_wechat_sdk_signed_notice_is_accepted():
    private, public, serial, api_key = _platform()
    provider = pinned(public, serial, api_key)
    headers, body = sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS", transaction())
    notice = provider.parse(headers, body)
    assert (notice.payment_id, notice.amount_cents, notice.provider_txn_id) == ("pay_1", 12345, "4200001")


def test_wechat_bad_notices_are_rejected():
    private, public, serial, api_key = _platform()
    provider = pinned(public, serial, api_key)
    headers, body = sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS", transaction())
    with pytest.raises(InvalidSignature):  # tampered
        provider.parse(headers, body.replace(b"EV-1", b"EV-2"))
    with pytest.raises(InvalidSignature):  # an unknown key id
        provider.parse({**headers, "Wechatpay-Serial": "PUB_KEY_ID_999"}, body)
    with pytest.raises(InvalidSignature):  # WeChat Pay's signature probe
        provider.parse({**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]},
                       body)
    with pytest.raises(InvalidSignature):  # another signature algorithm
        provider.parse({**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, body)
    stranger, _ = key_pair(3)
    with pytest.raises(InvalidSignature):  # forged
        provider.parse(*sdk_signed_notice(stranger, serial, api_key, "TRANSACTION.SUCCESS", transaction()))
    with pytest.raises(InvalidSignature):  # replayed after the 5 minutes
        provider.parse(*sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS", transaction(),
                                          timestamp=int(time.time()) - 301))
    with pytest.raises(CallbackRejected):  # another merchant
        provider.parse(*sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS",
                                          transaction(mchid="1900000999")))
    with pytest.raises(CallbackRejected):  # another app id
        provider.parse(*sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS",
                                          transaction(appid="wx0000000000000000")))
    with pytest.raises(CallbackRejected):  # encrypted with another APIv3 key
        provider.parse(*sdk_signed_notice(private, serial, os.urandom(16).hex(), "TRANSACTION.SUCCESS",
                                          transaction()))
    with pytest.raises(CallbackRejected):  # not final
        provider.parse(*sdk_signed_notice(private, serial, api_key, "TRANSACTION.SUCCESS",
                                          transaction(trade_state="NOTPAY")))


def test_wechat_failed_trade_notice_fails_the_payment():
    private, public, serial, api_key = _platform()
    provider = pinned(public, serial, api_key)
    notice = provider.parse(*sdk_signed_notice(private, serial, api_key, "TRANSACTION.CLOSED",
                                               transaction(trade_state="CLOSED")))
    assert isinstance(notice, Notice) and not notice.succeeded


def test_wechat_notice_signed_with_an_expired_platform_certificate_is_rejected():
    m = merchant(mode="certificate")
    m.provider.payload(payment(), PayContext("jsapi", "oUser1"))
    headers, body = m.emulator.pay(payment().payment_id)
    after_expiry = time.time() + 400 * 86400
    stale_clock = from_config(m.config, notify_url=NOTIFY_URL, transport=m.transport, clock=lambda: after_expiry)
    with pytest.raises(InvalidSignature):
        stale_clock.parse({**headers, "Wechatpay-Timestamp": str(int(after_expiry))}, body)


def _refund_resource(status: str, **over: Any) -> dict[str, Any]:
    return {"mchid": MCH_ID, "out_trade_no": "pay_1", "transaction_id": "4200001", "out_refund_no": "rf_1",
            "refund_id": "50000001", "refund_status": status, "user_received_account": "支付用户零钱",
            "amount": {"total": 12345, "refund": 2345, "payer_total": 12345, "payer_refund": 2345}, **over}


@pytest.mark.parametrize(("status", "expected"), [("SUCCESS", "succeeded"), ("ABNORMAL", "failed"),
                                                   ("CLOSED", "failed")])
def test_wechat_refund_notices_are_accepted(status, expected):
    private, public, serial, api_key = _platform()
    provider = pinned(public, serial, api_key)
    notice = provider.parse(*sdk_signed_notice(private, serial, api_key, f"REFUND.{status}",
                                               _refund_resource(status)))
    assert notice == RefundNotice("wechat", "rf_1", "pay_1", "50000001", 2345, expected)


def test_wechat_refund_notices_that_do_not_match_are_rejected():
    private, public, serial, api_key = _platform()
    provider = pinned(public, serial, api_key)
    with pytest.raises(CallbackRejected):
        provider.parse(*sdk_signed_notice(private, serial, api_key, "REFUND.SUCCESS",
                                          _refund_resource("SUCCESS", mchid="1900000999")))
    with pytest.raises(CallbackRejected):  # the event says success, the refund does not
        provider.parse(*sdk_signed_notice(private, serial, api_key, "REFUND.SUCCESS", _refund_resource("CLOSED")))
    headers, body = sdk_signed_notice(private, serial, api_key, "REFUND.SUCCESS", _refund_resource("SUCCESS"))
    with pytest.raises(InvalidSignature):
        provider.parse(headers, body.replace(b"REFUND.SUCCESS", b"REFUND.CLOSED"))


# -- query, close, refunds ------------------------------------------------------------------------


def test_wechat_query_follows_the_order():
    m = merchant()
    p = payment()
    assert m.provider.query(p) is None  # never created at WeChat Pay
    m.provider.payload(p, PayContext("jsapi", "oUser1"))
    assert m.provider.query(p) is None  # NOTPAY: the owner may still pay
    m.emulator.pay(p.payment_id)  # ... and the notice is lost
    found = m.provider.query(p)
    assert found == Notice("wechat", p.payment_id, m.emulator.orders[p.payment_id].transaction_id, 12345, True)
    assert m.transport.sent[-1].query == f"mchid={MCH_ID}"


def test_wechat_closed_order_cannot_be_paid_and_queries_as_failed():
    m = merchant()
    p = payment()
    m.provider.payload(p, PayContext("h5", None, "203.0.113.7"))
    m.provider.close(p)
    assert json.loads(m.transport.sent[-1].body) == {"mchid": MCH_ID}
    with pytest.raises(ValueError):
        m.emulator.pay(p.payment_id)
    found = m.provider.query(p)
    assert found is not None and not found.succeeded


def test_wechat_close_of_a_paid_order_is_refused():
    m = merchant()
    p = payment()
    m.provider.payload(p, PayContext("jsapi", "oUser1"))
    m.emulator.pay(p.payment_id)
    with pytest.raises(ProviderRefused) as refused:
        m.provider.close(p)
    assert refused.value.code == "ORDERPAID"


def _paid(m: Merchant, p: Payment) -> str:
    m.provider.payload(p, PayContext("jsapi", "oUser1"))
    m.emulator.pay(p.payment_id)
    return m.emulator.orders[p.payment_id].transaction_id


def test_wechat_refund_is_asked_once_and_settles_by_notice_and_query():
    m = merchant()
    p = payment()
    request = RefundRequest("rf_pay0123_1", p.payment_id, _paid(m, p), 2345, 12345, "多收费用退回")
    first = m.provider.refund(request)
    again = m.provider.refund(request)  # a retry after a lost answer: the same refund, not a second one
    assert first.status == "pending" and again == first and len(m.emulator.refunds) == 1
    sent = json.loads(m.transport.sent[-1].body)
    assert sent["amount"] == {"refund": 2345, "total": 12345, "currency": "CNY"}
    assert sent["out_refund_no"] == "rf_pay0123_1" and sent["notify_url"] == NOTIFY_URL
    assert m.provider.query_refund(request) == first
    notice = m.provider.parse(*m.emulator.settle_refund("rf_pay0123_1"))
    assert notice == RefundNotice("wechat", "rf_pay0123_1", p.payment_id, first.provider_refund_id, 2345, "succeeded")
    assert m.provider.query_refund(request) == RefundResult("succeeded", first.provider_refund_id)


def test_wechat_refund_beyond_the_payment_is_refused():
    m = merchant()
    p = payment()
    _paid(m, p)
    assert m.provider.refund(RefundRequest("rf_a", p.payment_id, "", 10000, 12345, "")).status == "pending"
    assert m.provider.refund(RefundRequest("rf_b", p.payment_id, "", 2346, 12345, "")).status == "failed"
    assert m.emulator.requests_refused == ["INVALID_REQUEST"]
    assert m.provider.query_refund(RefundRequest("rf_b", p.payment_id, "", 2346, 12345, "")).status == "failed"


def test_wechat_refund_answer_of_a_server_error_is_unknown():
    m = merchant()
    p = payment()
    _paid(m, p)

    def down(answer: HttpAnswer) -> HttpAnswer:
        return HttpAnswer(500, {"Content-Type": "application/json"}, b'{"code":"SYSTEM_ERROR","message":"x"}')

    provider = from_config(m.config, notify_url=NOTIFY_URL, transport=_Tampering(m.transport, down))
    with pytest.raises(ProviderUnreachable):  # the refund may or may not exist: ask again with the same id
        provider.refund(RefundRequest("rf_a", p.payment_id, "", 100, 12345, ""))


# -- configuration --------------------------------------------------------------------------------


def test_wechat_config_accepts_bare_base64_keys():
    m = merchant()
    bare = "".join(line for line in m.private_pem.splitlines() if "-----" not in line)
    public = "".join(line for line in m.emulator.platform_public_key_pem.splitlines() if "-----" not in line)
    provider = from_config({**m.config, "merchant_private_key": bare, "platform_public_key": public},
                           notify_url=NOTIFY_URL, transport=m.transport)
    assert provider.payload(payment(), PayContext("jsapi", "oUser1"))["signType"] == "RSA"


@pytest.mark.parametrize(("change", "field"), [
    ({"mch_id": None}, "mch_id"),
    ({"mch_id": "19000x"}, "mch_id"),
    ({"app_id": ""}, "app_id"),
    ({"merchant_private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"},
     "merchant_private_key"),
    ({"merchant_serial_no": "not hex"}, "merchant_serial_no"),
    ({"api_v3_key": "short"}, "api_v3_key"),
    ({"platform_public_key": None}, "platform_public_key"),
    ({"platform_public_key_id": None}, "platform_public_key_id"),
    ({"platform_public_key_id": "0114232134912410000000000000001"}, "platform_public_key_id"),
    ({"platform_public_key": "garbage"}, "platform_public_key"),
    ({"platform_public_key": None, "platform_public_key_id": None}, "platform_certificates"),
    ({"platform_certificates": "{not json"}, "platform_certificates"),
    ({"api_base": "ftp://api.example"}, "api_base"),
])
def test_wechat_config_errors_name_the_field_never_its_value(change, field):
    m = merchant()
    config = {**m.config, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ProviderConfigError) as raised:
        from_config(config, notify_url=NOTIFY_URL, transport=m.transport)
    assert f"`{field}`" in str(raised.value)
    for value in m.config.values():
        if isinstance(value, str) and len(value) > 8:
            assert value not in str(raised.value)


def test_wechat_config_checks_certificates_against_their_serial():
    m = merchant(mode="certificate")
    wrong = {**m.config, "platform_certificates": json.dumps({"ABCDEF": m.emulator.certificate_pem})}
    with pytest.raises(ProviderConfigError) as raised:
        from_config(wrong, notify_url=NOTIFY_URL, transport=m.transport)
    assert "`platform_certificates`" in str(raised.value)
    as_text = {**m.config, "platform_certificates": json.dumps(m.config["platform_certificates"])}
    assert from_config(as_text, notify_url=NOTIFY_URL, transport=m.transport)


def test_wechat_notify_url_with_a_query_is_refused():
    m = merchant()
    with pytest.raises(ProviderConfigError) as raised:
        from_config(m.config, notify_url=NOTIFY_URL + "?stage=prod", transport=m.transport)
    assert "`notify_url`" in str(raised.value)


def test_wechat_beijing_time_is_rfc3339_at_plus_eight():
    assert beijing_time(1_796_000_000) == "2026-11-30T08:53:20+08:00"  # 00:53:20 UTC


def test_wechat_app_order_gives_the_signed_parameters_for_the_app_sdk():
    m = merchant()
    params = m.provider.payload(payment(), PayContext("app"))
    assert m.transport.sent[-1].path == "/v3/pay/transactions/app"
    assert (params["appid"], params["partnerid"], params["package"]) == (APP_ID, MCH_ID, "Sign=WXPay")
    expected = m.sdk_core().sign([params["appid"], params["timestamp"], params["noncestr"], params["prepayid"]])
    assert params["sign"] == expected


def test_wechat_h5_link_brings_the_owner_back_to_the_return_url():
    m = merchant()
    params = m.provider.payload(payment(), PayContext("h5", None, "203.0.113.7", "https://owner.example.com/p?x=1"))
    assert params["h5_url"].endswith("&redirect_url=https%3A%2F%2Fowner.example.com%2Fp%3Fx%3D1")


def test_wechat_unknown_channel_is_a_field_error():
    m = merchant()
    with pytest.raises(ValidationFailed) as raised:
        m.provider.payload(payment(), PayContext("native"))
    assert "channel" in raised.value.details["fields"] and m.transport.sent == []
