"""Payment provider configuration read from Secrets Manager (moto), through the API: a method is served only when
its secret holds a complete config; an unusable one answers 503 `provider_misconfigured` and changes nothing."""

from __future__ import annotations

import json
import secrets
from contextlib import contextmanager

import pytest

from chalicelib.adapters.payments.common import ProviderConfigError


@pytest.fixture
def owner_bill(world):
    owner = world.owner()
    bill = world.api.post("/staff/bills", {"unit_id": world.unit_ids[0], "type": "parking", "period": "2026-10",
                                           "due_date": "2026-11-15",
                                           "items": [{"code": "p1", "name": "车位费", "unit_price_cents": 30000}]},
                          token=world.admin)
    assert bill.status == 201, bill.body
    return owner, bill.body["bill_id"]


@pytest.fixture
def log_lines():
    """Everything the app's Powertools logger writes, through its real (redacting) formatter."""
    import io

    from chalicelib.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)


def _pay(api, owner, bill_id: str, method: str):
    return api.post("/payments", {"bill_ids": [bill_id], "method": method}, token=owner.token,
                    headers={"Idempotency-Key": secrets.token_hex(8)})


@contextmanager
def provider_secret(name: str, content: str, factories=None):
    """The stage's secret for `name` holds `content` and the app reads it anew (a new container, as it were);
    afterwards the secret holds `{}` ("not configured") again, as the rest of the suite expects."""
    from chalicelib import deps
    from chalicelib.adapters.payments.registry import build_providers
    from chalicelib.adapters.secrets import CachedSecret
    from chalicelib.names import PAYMENT_PROVIDER_SECRETS

    client = deps.aws_client("secretsmanager")
    secret_id = deps.get_settings().name(PAYMENT_PROVIDER_SECRETS[name])
    client.put_secret_value(SecretId=secret_id, SecretString=content)
    registry = build_providers(deps.get_settings(), lambda sid: CachedSecret(lambda: client, sid),
                               factories=factories) if factories else deps.payment_providers.build()
    try:
        with deps.rebuilt("payments", payment_providers=registry):
            yield
    finally:
        client.put_secret_value(SecretId=secret_id, SecretString="{}")


def test_payment_config_misconfigured_method_answers_503_and_changes_nothing(api, owner_bill, log_lines):
    owner, bill_id = owner_bill
    # given an operator pasted something that is not JSON into the Alipay secret
    with provider_secret("alipay", "-----BEGIN PRIVATE KEY----- oops"):
        reply = _pay(api, owner, bill_id, "alipay")
        notice = api.call("POST", "/payments/callbacks/alipay", body={"trade_status": "TRADE_SUCCESS"})
        wechat = _pay(api, owner, bill_id, "wechat")  # another provider is not affected
    assert reply.status == 503 and reply.body["code"] == "provider_misconfigured", reply.body
    assert reply.body["details"] == {"provider": "alipay"}
    assert notice.status == 503 and notice.body["code"] == "provider_misconfigured"  # Alipay retries later
    assert api.get(f"/bills/{bill_id}", token=owner.token).body["status"] in ("unpaid", "processing")
    assert wechat.status == 201 and "pay_url" in wechat.body["provider_payload"]  # the sandbox stands in
    assert api.get("/payments", token=owner.token).body["items"][0]["method"] == "wechat"
    logged = log_lines.getvalue()
    assert logged.count('"payment provider misconfigured"') == 1 and "BEGIN PRIVATE KEY" not in logged


def test_payment_config_bad_notice_for_misconfigured_provider_is_503_not_500(api):
    with provider_secret("wechat", '{"mch_id": 1900000109}'):
        reply = api.call("POST", "/payments/callbacks/wechat", body={"resource": {}},
                         headers={"Wechatpay-Timestamp": "1", "Wechatpay-Nonce": "n", "Wechatpay-Signature": "s",
                                  "Wechatpay-Serial": "S"})
    assert reply.status == 503 and reply.body["code"] == "provider_misconfigured"


def test_payment_config_empty_secret_lets_the_sandbox_stand_in(api, owner_bill):
    owner, bill_id = owner_bill
    with provider_secret("alipay", "{}"):
        reply = _pay(api, owner, bill_id, "alipay")
    assert reply.status == 201 and reply.body["provider_payload"]["pay_url"].startswith("sandbox://")


def test_payment_config_complete_secret_serves_its_provider_with_the_stage_notify_url(api, owner_bill):
    owner, bill_id = owner_bill
    built = []

    class Provider:
        name = "alipay"

        def __init__(self, config, notify_url):
            self.config, self.notify_url = config, notify_url

        def payload(self, payment, context=None):
            return {"order_string": f"app_id={self.config['app_id']}&notify_url={self.notify_url}"}

    def from_config(config, *, notify_url, transport=None):
        if not config.get("app_id"):
            raise ProviderConfigError("field app_id is missing")
        built.append(Provider(config, notify_url))
        return built[-1]

    with provider_secret("alipay", json.dumps({"app_id": "2021000000000001"}), factories={"alipay": from_config}):
        reply = _pay(api, owner, bill_id, "alipay")
    assert reply.status == 201, reply.body
    assert reply.body["method"] == "alipay"
    assert reply.body["provider_payload"] == {
        "order_string": "app_id=2021000000000001&notify_url=http://127.0.0.1:8000/payments/callbacks/alipay"}


# -- the deploy-time check -----------------------------------------------------------------------------------


def from_config(config, *, notify_url, transport=None):
    """This module stands in for a provider module in the check below (a complete config has `app_id`)."""
    if not config.get("app_id"):
        raise ProviderConfigError("field app_id is missing")
    return object()


def _check(capsys, *argv):
    from chalicelib import cli

    args = cli.build_parser().parse_args(["check-payment-config", *argv])
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_check_payment_config_names_each_problem_without_values(aws, monkeypatch, capsys):
    from chalicelib import deps
    from chalicelib.adapters.payments import registry

    monkeypatch.setitem(registry.CONFIGURABLE, "alipay", __name__)
    monkeypatch.setitem(registry.CONFIGURABLE, "wechat", __name__)
    client = deps.aws_client("secretsmanager")
    alipay, wechat = (deps.get_settings().name(f"payments-{name}") for name in ("alipay", "wechat"))
    try:
        # given a complete Alipay config and a WeChat secret still empty
        client.put_secret_value(SecretId=alipay, SecretString='{"app_id": "2021000000000001"}')
        code, out = _check(capsys)
        assert code == 0 and "ok" in out and "not configured" in out
        # a provider that must be there but is not fails the check
        code, out = _check(capsys, "--require", "alipay,wechat")
        assert code == 1
        # a config the provider refuses fails it, naming the field and never the value
        client.put_secret_value(SecretId=wechat, SecretString='{"mch_id": "1900000109"}')
        code, out = _check(capsys)
        assert code == 1 and "misconfigured" in out and "field app_id is missing" in out
        assert "1900000109" not in out and "2021000000000001" not in out
        assert _check(capsys, "--require", "unionpay")[0] == 2
        # a secret that infra/ never created fails it too
        from chalicelib import names

        monkeypatch.setitem(names.PAYMENT_PROVIDER_SECRETS, "wechat", "payments-not-deployed")
        code, out = _check(capsys)
        assert code == 1 and "missing" in out
    finally:
        for secret_id in (alipay, wechat):
            client.put_secret_value(SecretId=secret_id, SecretString="{}")
