"""Alipay to its published specification, checked against python-alipay-sdk (an established, independent SDK)
and, where that SDK cannot (GBK notices), against the published algorithm written out here with `cryptography`.
Gateway calls go to the local emulator through `InProcessTransport` (no sockets)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from alipay import AliPay, DCAliPay

from chalicelib.adapters.payments import alipay as ali
from chalicelib.adapters.payments.common import InvalidSignature, ProviderConfigError
from chalicelib.adapters.payments.http import HttpAnswer
from chalicelib.domain.payments import CallbackRejected, Notice, PayContext, Payment, RefundNotice, RefundRequest
from devstack.emulators import InProcessTransport
from devstack.emulators.alipay import AlipayEmulator, OrderRefused

APP_ID = "2021000123456789"
SELLER_ID = "2088102177846880"
NOTIFY = "https://api.example.com/payments/callbacks/alipay"
BEIJING = timezone(timedelta(hours=8))


def _rsa():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key, pkcs8: bool = False) -> str:
    from cryptography.hazmat.primitives import serialization

    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _public_pem(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _bare(pem: str) -> str:
    return "".join(pem.strip().splitlines()[1:-1])


@pytest.fixture(scope="module")
def app_key():
    return _rsa()


@pytest.fixture
def emulator(app_key):
    return AlipayEmulator(APP_ID, SELLER_ID, _public_pem(app_key))


@pytest.fixture
def provider(app_key, emulator):
    return ali.from_config({"app_id": APP_ID, "seller_id": SELLER_ID, "app_private_key": _pem(app_key),
                            "alipay_public_key": emulator.public_key_base64,
                            "gateway": "https://alipay.local/alipay/gateway.do"},
                           notify_url=NOTIFY, transport=InProcessTransport(emulator))


def _payment(amount: int = 12345, payment_id: str = "pay_0123456789abcdef01234567", ttl: int = 900) -> Payment:
    now = int(datetime.now(tz=UTC).timestamp())
    return Payment(payment_id, "u1", ("b1",), ("unit1",), "c1", amount, "alipay", "alipay", "pending",
                   "2026-12-02T10:00:00Z", now + ttl)


def _sdk_as_alipay(emulator_key_pem: str, app_public_pem: str) -> AliPay:
    """The SDK holding a private key: used to sign as Alipay does (notices)."""
    return AliPay(appid=APP_ID, app_notify_url=None, app_private_key_string=emulator_key_pem,
                  alipay_public_key_string=app_public_pem, sign_type="RSA2")


# -- notices -----------------------------------------------------------------------------------


def _notice_params(**over: str) -> dict[str, str]:
    return {"app_id": APP_ID, "seller_id": SELLER_ID, "out_trade_no": "pay_1", "trade_no": "2026120222001",
            "total_amount": "123.45", "trade_status": "TRADE_SUCCESS", "notify_time": "2026-12-02 14:00:00",
            "subject": "物业费缴费", "charset": "utf-8", "notify_type": "trade_status_sync", "version": "1.0",
            **over}


def _provider_verifying(alipay_key) -> ali.AlipayProvider:
    return ali.AlipayProvider(APP_ID, SELLER_ID, _public_pem(alipay_key))


def _sdk_signed_body(alipay_key, params: dict[str, str]) -> bytes:
    # sign_data signs every parameter it is given: sign_type is left out of the signed ones (as Alipay does for
    # notices) and appended after, as the notice carries it.
    sdk = _sdk_as_alipay(_pem(alipay_key), _public_pem(alipay_key))
    return (sdk.sign_data(dict(params)) + "&sign_type=RSA2").encode()


def test_alipay_notice_signed_by_the_sdk_verifies_and_completes():
    alipay_key = _rsa()
    notice = _provider_verifying(alipay_key).parse({}, _sdk_signed_body(alipay_key, _notice_params()))
    assert notice == Notice("alipay", "pay_1", "2026120222001", 12345, True)


def test_alipay_notice_in_gbk_with_percent_20_verifies():
    # The published algorithm, independently of our code: RSA2 over the sorted k=v string encoded in the
    # notice's charset; the body percent-encodes that charset's bytes.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    alipay_key = _rsa()
    params = _notice_params(charset="gbk", subject="物业费 缴费（阳光花园）")
    content = "&".join(f"{k}={params[k]}" for k in sorted(params))
    signature = base64.b64encode(alipay_key.sign(content.encode("gbk"), padding.PKCS1v15(), hashes.SHA256()))
    body = urlencode({**params, "sign": signature.decode(), "sign_type": "RSA2"}, encoding="gbk", quote_via=quote)
    assert "%20" in body and "+" not in body.replace("%2B", "")
    notice = _provider_verifying(alipay_key).parse(
        {"Content-Type": "application/x-www-form-urlencoded; charset=GBK"}, body.encode())
    assert notice.amount_cents == 12345 and notice.succeeded


def test_alipay_gbk_notice_read_as_utf8_does_not_verify():
    alipay_key = _rsa()
    emulator = AlipayEmulator(APP_ID, SELLER_ID, _public_pem(_rsa()))
    emulator._key = alipay_key  # sign as this Alipay
    _, body = emulator.signed_notice(_notice_params(subject="物业费缴费"), charset="gbk")
    provider = _provider_verifying(alipay_key)
    assert provider.parse({}, body).succeeded
    with pytest.raises(InvalidSignature):
        provider.parse({}, body.replace(b"charset=gbk", b"charset=utf-8"))


def test_alipay_notice_with_plus_for_spaces_verifies():
    alipay_key = _rsa()
    body = _sdk_signed_body(alipay_key, _notice_params(subject="物业费 缴费"))
    assert b"+" in body  # quote_plus: the space in notify_time and subject
    assert _provider_verifying(alipay_key).parse({}, body).succeeded


@pytest.mark.parametrize("change", [
    lambda b: b.replace(b"total_amount=123.45", b"total_amount=0.01"),
    lambda b: b.replace(b"out_trade_no=pay_1", b"out_trade_no=pay_2"),
    lambda b: b.replace(b"sign_type=RSA2", b"sign_type=RSA"),
    lambda b: b + b"&extra=1",
    lambda b: b[: b.index(b"&sign=")] + b[b.index(b"&sign_type"):],
])
def test_alipay_tampered_notice_is_refused(change):
    alipay_key = _rsa()
    body = _sdk_signed_body(alipay_key, _notice_params())
    with pytest.raises(InvalidSignature):
        _provider_verifying(alipay_key).parse({}, change(body))


def test_alipay_notice_forged_with_another_key_is_refused():
    with pytest.raises(InvalidSignature):
        _provider_verifying(_rsa()).parse({}, _sdk_signed_body(_rsa(), _notice_params()))


@pytest.mark.parametrize("over", [{"app_id": "2021000999999999"}, {"seller_id": "2088999999999999"}])
def test_alipay_notice_for_another_merchant_is_rejected(over):
    alipay_key = _rsa()
    with pytest.raises(CallbackRejected):
        _provider_verifying(alipay_key).parse({}, _sdk_signed_body(alipay_key, _notice_params(**over)))


def test_alipay_notice_states():
    alipay_key = _rsa()
    provider = _provider_verifying(alipay_key)
    finished = provider.parse({}, _sdk_signed_body(alipay_key, _notice_params(trade_status="TRADE_FINISHED")))
    closed = provider.parse({}, _sdk_signed_body(alipay_key, _notice_params(trade_status="TRADE_CLOSED")))
    assert finished.succeeded and not closed.succeeded
    with pytest.raises(CallbackRejected):
        provider.parse({}, _sdk_signed_body(alipay_key, _notice_params(trade_status="WAIT_BUYER_PAY")))
    with pytest.raises(CallbackRejected):
        provider.parse({}, _sdk_signed_body(alipay_key, _notice_params(total_amount="1e3")))


def test_alipay_refund_notice_is_a_refund_even_when_the_trade_is_closed():
    alipay_key = _rsa()
    params = _notice_params(trade_status="TRADE_CLOSED", out_biz_no="rf_1", refund_fee="123.45",
                            gmt_refund="2026-12-02 15:00:00.123")
    notice = _provider_verifying(alipay_key).parse({}, _sdk_signed_body(alipay_key, params))
    assert notice == RefundNotice("alipay", "rf_1", "pay_1", "2026120222001", 12345, "succeeded")


def test_alipay_success_reply_is_the_literal_success():
    assert _provider_verifying(_rsa()).success.body == "success"


# -- keys and configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pkcs1_pem", "pkcs8_pem", "pkcs1_bare", "pkcs8_bare"])
def test_alipay_private_key_forms_all_sign_the_same(form, app_key):
    text = {"pkcs1_pem": _pem(app_key), "pkcs8_pem": _pem(app_key, True), "pkcs1_bare": _bare(_pem(app_key)),
            "pkcs8_bare": _bare(_pem(app_key, True))}[form]
    loaded = ali.load_private_key(text)
    assert loaded.private_numbers() == app_key.private_numbers()


def test_alipay_public_key_as_pem_or_bare_base64(emulator):
    assert ali.load_rsa_public_key(emulator.public_key_pem).public_numbers() == \
        ali.load_rsa_public_key(emulator.public_key_base64).public_numbers()


@pytest.mark.parametrize(("field", "value"), [
    ("app_private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"),
    ("app_private_key", ""),
    ("alipay_public_key", "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"),
    ("alipay_public_key", "c2VjcmV0LXZhbHVl"),
    ("app_id", "app-12"),
    ("seller_id", "1234"),
    ("gateway", "ftp://example.com"),
])
def test_alipay_malformed_config_fails_at_construction_naming_the_field(field, value, app_key, emulator):
    config = {"app_id": APP_ID, "seller_id": SELLER_ID, "app_private_key": _pem(app_key),
              "alipay_public_key": emulator.public_key_pem, field: value}
    with pytest.raises(ProviderConfigError) as raised:
        ali.from_config(config, notify_url=NOTIFY)
    assert f"`{field}`" in str(raised.value)
    assert not value or value not in str(raised.value)


def _ca(name: str, key, issuer=None, issuer_key=None, serial: int = 1001):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ant Financial"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(tz=UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
            .public_key(key.public_key()).serial_number(serial).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(issuer_key or key, hashes.SHA256()))
    return cert, subject


def _cert_pem(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _certificate_world(app_key):
    from cryptography.hazmat.primitives.asymmetric import ec

    root_key, alipay_key = _rsa(), _rsa()
    root, root_name = _ca("Ant Financial Certification Authority R1", root_key, serial=2019041702)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_root, _ = _ca("Ant Financial Certification Authority E1", ec_key, serial=77)
    app_cert, _ = _ca("2021000123456789 app", app_key, root_name, root_key, serial=4096123456789)
    alipay_cert, _ = _ca("支付宝(中国)网络技术有限公司", alipay_key, root_name, root_key, serial=9988776655)
    chain = "\n".join([_cert_pem(root), _cert_pem(ec_root)])
    return alipay_key, _cert_pem(app_cert), _cert_pem(alipay_cert), chain


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK reads certificates with pyOpenSSL
def test_alipay_certificate_sns_match_the_sdk(app_key):
    _, app_cert, _, chain = _certificate_world(app_key)
    from cryptography.x509 import load_pem_x509_certificate

    assert ali.cert_sn(load_pem_x509_certificate(app_cert.encode())) == DCAliPay.get_cert_sn(app_cert)
    # the EC certificate of the chain does not count, as Alipay defines the root SN
    assert ali.root_cert_sn(chain) == DCAliPay.get_root_cert_sn(chain)
    assert "_" not in ali.root_cert_sn(chain)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_alipay_certificate_mode_signs_with_sns_and_verifies_with_the_alipay_certificate(app_key):
    alipay_key, app_cert, alipay_cert, chain = _certificate_world(app_key)
    provider = ali.from_config({"app_id": APP_ID, "seller_id": SELLER_ID, "app_private_key": _bare(_pem(app_key)),
                                "app_cert": app_cert, "alipay_cert": alipay_cert, "alipay_root_cert": chain},
                               notify_url=NOTIFY)
    order = dict(parse_qsl(urlsplit(provider.payload(_payment())["pay_url"]).query))
    assert order["app_cert_sn"] == DCAliPay.get_cert_sn(app_cert)
    assert order["alipay_root_cert_sn"] == DCAliPay.get_root_cert_sn(chain)
    assert provider.parse({}, _sdk_signed_body(alipay_key, _notice_params())).succeeded


def test_alipay_certificate_mode_refuses_a_certificate_of_another_key(app_key):
    _, app_cert, alipay_cert, chain = _certificate_world(_rsa())
    config = {"app_id": APP_ID, "seller_id": SELLER_ID, "app_private_key": _pem(app_key), "app_cert": app_cert,
              "alipay_cert": alipay_cert, "alipay_root_cert": chain}
    with pytest.raises(ProviderConfigError, match="app_cert"):
        ali.from_config(config, notify_url=NOTIFY)
    with pytest.raises(ProviderConfigError, match="alipay_root_cert"):
        ali.from_config({**config, "alipay_root_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
                        notify_url=NOTIFY)


# -- orders ---------------------------------------------------------------------------------------


def _sdk_signature(app_key, params: dict[str, str]) -> str:
    """The SDK's own RSA2 signature of these request parameters with the app's key (PKCS#1 v1.5 is
    deterministic: equal to ours exactly when we signed the same string)."""
    sdk = AliPay(appid=APP_ID, app_private_key_string=_pem(app_key), alipay_public_key_string=_public_pem(app_key))
    signed = dict(parse_qsl(sdk.sign_data({k: v for k, v in params.items() if k != "sign"})))
    return signed["sign"]


def test_alipay_wap_order_is_a_signed_redirect_the_sdk_agrees_with(provider, app_key):
    payment = _payment()
    payload = provider.payload(payment, PayContext("h5", return_url="https://owner.example.com/paid"))
    url = urlsplit(payload["pay_url"])
    params = dict(parse_qsl(url.query))
    assert url.path == "/alipay/gateway.do" and params["method"] == "alipay.trade.wap.pay"
    assert params["sign"] == _sdk_signature(app_key, params)
    assert (params["notify_url"], params["return_url"], params["sign_type"], params["charset"]) == (
        NOTIFY, "https://owner.example.com/paid", "RSA2", "utf-8")
    biz = json.loads(params["biz_content"])
    expires = datetime.fromtimestamp(payment.expires_at, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    assert biz == {"out_trade_no": payment.payment_id, "total_amount": "123.45", "subject": "物业费缴费",
                   "time_expire": expires, "product_code": "QUICK_WAP_WAY"}
    assert payload["form"]["fields"] == params and payload["form"]["method"] == "POST"


def test_alipay_app_order_string_the_sdk_agrees_with(provider, app_key, emulator):
    payload = provider.payload(_payment(amount=5), PayContext("app"))
    params = dict(parse_qsl(payload["order_string"]))
    assert params["method"] == "alipay.trade.app.pay" and "return_url" not in params
    assert json.loads(params["biz_content"])["total_amount"] == "0.05"
    assert json.loads(params["biz_content"])["product_code"] == "QUICK_MSECURITY_PAY"
    assert params["sign"] == _sdk_signature(app_key, params)
    assert emulator.open(payload["order_string"]).total_cents == 5


def test_alipay_emulator_cashier_refuses_an_order_signed_by_another_key(emulator):
    stranger = ali.AlipayProvider(APP_ID, SELLER_ID, emulator.public_key_pem, app_private_key=_pem(_rsa()),
                                  notify_url=NOTIFY)
    with pytest.raises(OrderRefused, match=r"isv\.invalid-signature"):
        emulator.open(stranger.payload(_payment())["pay_url"])


# -- gateway calls ------------------------------------------------------------------------------


def test_alipay_query_follows_the_trade(provider, emulator):
    payment = _payment()
    assert provider.query(payment) is None  # the cashier was never opened: ACQ.TRADE_NOT_EXIST
    emulator.open(provider.payload(payment)["pay_url"])
    assert provider.query(payment) is None  # WAIT_BUYER_PAY
    emulator.pay(payment.payment_id)
    found = provider.query(payment)
    assert found == Notice("alipay", payment.payment_id, emulator.trades[payment.payment_id].trade_no, 12345, True)


def test_alipay_emulator_answers_verify_with_the_sdk(provider, emulator, app_key):
    payment = _payment()
    emulator.open(provider.payload(payment)["pay_url"])
    sent: list[bytes] = []

    class Keeping(InProcessTransport):
        def send(self, method, url, headers, body=None):
            answer = super().send(method, url, headers, body)
            sent.append(answer.body)
            return answer

    provider._transport = Keeping(emulator)
    provider.query(payment)
    sdk = AliPay(appid=APP_ID, app_private_key_string=_pem(app_key), alipay_public_key_string=emulator.public_key_pem)
    checked = sdk._verify_and_return_sync_response(sent[0].decode(), "alipay_trade_query_response")
    assert checked["trade_status"] == "WAIT_BUYER_PAY"


class _Tampering:
    def __init__(self, inner, change):
        self._inner, self._change = inner, change

    def send(self, method, url, headers, body=None):
        answer = self._inner.send(method, url, headers, body)
        return HttpAnswer(answer.status, answer.headers, self._change(answer.body))


def test_alipay_query_answer_is_verified_as_returned(provider, emulator):
    payment = _payment()
    emulator.open(provider.payload(payment)["pay_url"])
    emulator.pay(payment.payment_id)
    transport = provider._transport
    # The same JSON with a space after a colon no longer is what Alipay signed.
    provider._transport = _Tampering(transport, lambda b: b.replace(b'"code":"10000"', b'"code": "10000"', 1))
    with pytest.raises(ali.AlipayError):
        provider.query(payment)
    provider._transport = _Tampering(transport, lambda b: b.replace(b'"total_amount":"123.45"',
                                                                     b'"total_amount":"0.01"'))
    with pytest.raises(ali.AlipayError):
        provider.query(payment)
    # Whitespace outside the signed value changes nothing.
    provider._transport = _Tampering(transport, lambda b: b.replace(b'{"alipay_trade_query_response":',
                                                                     b'{ "alipay_trade_query_response" : '))
    assert provider.query(payment).succeeded


def test_alipay_request_signed_by_another_key_is_refused_by_the_gateway(emulator):
    stranger = ali.AlipayProvider(APP_ID, SELLER_ID, emulator.public_key_pem, app_private_key=_pem(_rsa()),
                                  notify_url=NOTIFY, transport=InProcessTransport(emulator),
                                  gateway="https://alipay.local/alipay/gateway.do")
    with pytest.raises(ali.AlipayError) as raised:
        stranger.query(_payment())
    assert raised.value.sub_code == "isv.invalid-signature"


def test_alipay_close_and_a_closed_trade(provider, emulator):
    payment = _payment()
    provider.close(payment)  # no trade yet: nothing to close
    emulator.open(provider.payload(payment)["pay_url"])
    provider.close(payment)
    assert provider.query(payment) == Notice("alipay", payment.payment_id,
                                             emulator.trades[payment.payment_id].trade_no, 12345, False)
    with pytest.raises(OrderRefused):
        emulator.pay(payment.payment_id)


def test_alipay_close_of_a_paid_trade_raises(provider, emulator):
    payment = _payment()
    emulator.open(provider.payload(payment)["pay_url"])
    emulator.pay(payment.payment_id)
    with pytest.raises(ali.AlipayError) as raised:
        provider.close(payment)
    assert raised.value.sub_code == "ACQ.TRADE_STATUS_ERROR"


def _refund(payment: Payment, refund_id: str, amount: int) -> RefundRequest:
    return RefundRequest(refund_id, payment.payment_id, "", amount, payment.amount_cents, "多收退款")


def test_alipay_partial_refunds_are_idempotent_and_bounded(provider, emulator):
    payment = _payment(amount=10000)
    emulator.open(provider.payload(payment)["pay_url"])
    emulator.pay(payment.payment_id)
    first = _refund(payment, "rf_1", 3000)
    assert provider.refund(first).status == "succeeded"
    assert provider.refund(first).status == "pending"  # a repeat: fund_change N, nothing moved
    assert provider.query_refund(first).status == "succeeded"
    assert emulator.trades[payment.payment_id].refunded == 3000
    assert provider.refund(_refund(payment, "rf_2", 8000)).status == "failed"  # more than what is left
    assert provider.refund(_refund(payment, "rf_3", 7000)).status == "succeeded"
    headers, body = emulator.refund_notice(payment.payment_id, "rf_3")
    notice = ali.AlipayProvider(APP_ID, SELLER_ID, emulator.public_key_pem).parse(headers, body)
    assert notice == RefundNotice("alipay", "rf_3", payment.payment_id,
                                  emulator.trades[payment.payment_id].trade_no, 10000, "succeeded")


def test_alipay_refund_query_resends_a_refund_alipay_never_received(provider, emulator):
    payment = _payment(amount=500)
    emulator.open(provider.payload(payment)["pay_url"])
    emulator.pay(payment.payment_id)
    assert provider.query_refund(_refund(payment, "rf_lost", 500)).status == "succeeded"
    assert emulator.trades[payment.payment_id].refunds == {"rf_lost": 500}


def test_alipay_emulator_notice_verifies_with_the_sdk(provider, emulator, app_key):
    payment = _payment()
    emulator.open(provider.payload(payment)["pay_url"])
    _, body = emulator.pay(payment.payment_id)
    data = dict(parse_qsl(body.decode()))
    signature = data.pop("sign")
    sdk = AliPay(appid=APP_ID, app_private_key_string=_pem(app_key), alipay_public_key_string=emulator.public_key_pem)
    assert sdk.verify(data, signature)  # the SDK leaves sign_type out, as Alipay's notices are signed
    assert ali.AlipayProvider(APP_ID, SELLER_ID, emulator.public_key_pem).parse({}, body).succeeded


def test_alipay_answer_signed_under_another_certificate_is_refused(app_key, emulator):
    keys = ali.AlipayKeys(app_key, ali.load_rsa_public_key(emulator.public_key_pem), "app-sn", "root-sn", "ours")
    provider = ali.AlipayProvider(APP_ID, SELLER_ID, None, keys=keys, notify_url=NOTIFY,
                                  gateway="https://alipay.local/alipay/gateway.do")

    def signed_by(sn: str):
        return _Tampering(InProcessTransport(emulator), lambda b: b[:-1] + f',"alipay_cert_sn":"{sn}"}}'.encode())

    provider._transport = signed_by("ours")
    assert provider.query(_payment()) is None
    provider._transport = signed_by("renewed")
    with pytest.raises(ali.AlipayError) as raised:
        provider.query(_payment())
    assert raised.value.sub_code == "alipay_cert_sn"


def test_alipay_emulator_with_secret_pairs_with_the_adapter():
    emulator, secret = AlipayEmulator.with_secret("http://127.0.0.1:9000/alipay/gateway.do")
    provider = ali.from_config(secret, notify_url=NOTIFY, transport=InProcessTransport(emulator))
    payment = _payment()
    emulator.open(provider.payload(payment)["pay_url"])
    headers, body = emulator.pay(payment.payment_id)
    assert provider.parse(headers, body).succeeded and provider.query(payment).succeeded
