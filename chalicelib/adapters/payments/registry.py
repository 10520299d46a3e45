"""Which provider serves which method in a stage: built once from the settings."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.payments import MethodUnavailable

PROVIDER_NAMES: tuple[str, ...] = ("sandbox", "alipay", "wechat")  # the callback route's {provider}

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
        from chalicelib.adapters.payments.sandbox import SandboxProvider

        by_name["sandbox"] = SandboxProvider(settings.sandbox_payment_secret)
    s = settings
    if s.alipay_app_id and s.alipay_seller_id and s.alipay_public_key:
        from chalicelib.adapters.payments.alipay import AlipayProvider

        by_name["alipay"] = AlipayProvider(s.alipay_app_id, s.alipay_seller_id, s.alipay_public_key)
    if s.wechat_mch_id and s.wechat_app_id and s.wechat_api_v3_key and s.wechat_platform_keys:
        from chalicelib.adapters.payments.wechat import WechatPayProvider

        by_name["wechat"] = WechatPayProvider(settings.wechat_mch_id, settings.wechat_app_id,
                                              settings.wechat_api_v3_key, json.loads(settings.wechat_platform_keys))
    return Providers(by_name, settings.is_test_stage)
