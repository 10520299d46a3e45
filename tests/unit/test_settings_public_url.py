"""The stage's public API base URL: the one setting receipt links and provider notify URLs derive from; and no
provider key is a Lambda environment variable."""

from __future__ import annotations

import pytest

from chalicelib.ops.stage import stage_variables
from chalicelib.settings import SettingsError, load_settings


@pytest.fixture
def stage_env(monkeypatch):
    def apply(stage: str, **over: str) -> None:
        for key, value in {**stage_variables(stage), "AWS_DEFAULT_REGION": "cn-north-1", **over}.items():
            monkeypatch.setenv(key, value)
        if stage not in ("local", "test"):
            for hook in ("SANDBOX_PAYMENT_SECRET", "CAPTCHA_TEST_ANSWER"):
                monkeypatch.delenv(hook, raising=False)

    return apply


def test_links_and_notify_urls_derive_from_the_public_api_url(stage_env):
    stage_env("prod", PUBLIC_API_URL="https://wy.example.cn/api/")
    settings = load_settings()
    assert settings.public_api_url == "https://wy.example.cn/api"
    assert settings.receipt_verify_url == "https://wy.example.cn/api/receipts"
    assert settings.notify_url("wechat") == "https://wy.example.cn/api/payments/callbacks/wechat"


@pytest.mark.parametrize("url", ["http://wy.example.cn/api", "wy.example.cn/api", "https://", "",
                                 "https://wy.example.cn/api?x=1"])
def test_a_real_stage_refuses_a_public_url_that_is_not_https(stage_env, url):
    stage_env("dev", PUBLIC_API_URL=url)
    with pytest.raises(SettingsError, match="PUBLIC_API_URL"):
        load_settings()


def test_local_stages_accept_plain_http(stage_env):
    stage_env("local", PUBLIC_API_URL="http://127.0.0.1:8123")
    assert load_settings().receipt_verify_url == "http://127.0.0.1:8123/receipts"


@pytest.mark.parametrize("stage", ["local", "test", "dev", "prod"])
def test_no_stage_gives_provider_keys_as_environment_variables(stage):
    variables = stage_variables(stage)
    assert not [k for k in variables if k.startswith(("ALIPAY", "WECHAT", "CARD", "UNIONPAY"))]
    assert not [k for k, v in variables.items() if "PRIVATE KEY" in v or "PUBLIC KEY" in v]
    assert variables["PUBLIC_API_URL"]
