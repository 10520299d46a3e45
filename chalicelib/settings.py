"""Typed, fail-fast settings read once from the environment.

Every value the app needs comes from a variable that `.chalice/config.json` sets per stage. A missing
variable is a deployment error, so it raises at start-up instead of falling back to a guess.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from urllib.parse import urlsplit

TEST_STAGES = frozenset({"local", "test"})
STAGES = frozenset({"local", "test", "dev", "prod"})


class SettingsError(RuntimeError):
    """The environment does not describe a valid stage."""


def _required(name: str) -> str:
    try:
        value = os.environ[name]
    except KeyError:
        raise SettingsError(f"environment variable {name} is not set") from None
    if not value:
        raise SettingsError(f"environment variable {name} is empty")
    return value


def _int(name: str, minimum: int = 0) -> int:
    raw = _required(name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}")
    return value


def _public_url(name: str, https: bool) -> str:
    """An absolute http(s) base URL without a trailing slash (https required outside local and test)."""
    value = _required(name).rstrip("/")
    parts = urlsplit(value)
    schemes = ("https",) if https else ("http", "https")
    if parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be an absolute {' or '.join(schemes)} URL without query, got {value!r}")
    return value


def _optional(name: str) -> str | None:
    # Optional by design (test hooks): absence means "feature off".
    value = os.environ.get(name)
    return value or None


def sms_consumer_concurrency() -> int:
    """Concurrent invocations of the bulk-SMS consumer, from the configured SMS rate (read at import).

    One invocation sends a batch of 10 texts in about a second, so `rate / 10` invocations keep the rate;
    Lambda's SQS scaling needs at least 2.
    """
    rate = _int("SMS_RATE_PER_SECOND", minimum=1)
    return max(2, -(-rate // 10))


def resource_name(logical: str) -> str:
    """The physical name of a table, bucket, queue or topic in the current stage."""
    return f"{_required('RESOURCE_PREFIX')}-{logical}"


class Settings:
    """The validated settings of the running stage (a plain class: it is defined at every cold start)."""

    def __init__(self, **values: Any):
        self.stage: str = values.pop("stage")
        self.region: str = values.pop("region")
        self.resource_prefix: str = values.pop("resource_prefix")
        self.sms_allowed_country_codes: tuple[str, ...] = values.pop("sms_allowed_country_codes")
        self.sms_per_ip_per_hour: int = values.pop("sms_per_ip_per_hour")
        self.login_failures_per_ip_before_captcha: int = values.pop("login_failures_per_ip_before_captcha")
        self.captcha_test_answer: str | None = values.pop("captcha_test_answer")
        self.sandbox_payment_secret: str | None = values.pop("sandbox_payment_secret")
        self.echo_sms: bool = values.pop("echo_sms")
        # The account's SMS rate: paces urgent-notice fan-out and the bulk-SMS consumer alike.
        self.sms_rate_per_second: int = values.pop("sms_rate_per_second")
        # The stage's public API base URL, as callers and providers reach it (no trailing slash): provider
        # notify URLs and the receipts' verification links derive from it. Payment provider keys are not
        # settings: they live in Secrets Manager (adapters/payments/registry.py).
        self.public_api_url: str = values.pop("public_api_url")
        if values:
            raise TypeError(f"unknown settings: {sorted(values)}")

    @property
    def is_test_stage(self) -> bool:
        return self.stage in TEST_STAGES

    def name(self, logical: str) -> str:
        return f"{self.resource_prefix}-{logical}"

    @property
    def receipt_verify_url(self) -> str:
        """The base of a receipt's verification link (`{base}/{receipt_no}/verify?code=`)."""
        return f"{self.public_api_url}/receipts"

    def notify_url(self, provider: str) -> str:
        """Where `provider` posts its notices (the public callback route)."""
        return f"{self.public_api_url}/payments/callbacks/{provider}"


def load_settings() -> Settings:
    stage = _required("STAGE")
    if stage not in STAGES:
        raise SettingsError(f"STAGE must be one of {sorted(STAGES)}, got {stage!r}")
    captcha_answer = _optional("CAPTCHA_TEST_ANSWER")
    sandbox_secret = _optional("SANDBOX_PAYMENT_SECRET")
    if stage not in TEST_STAGES and (captcha_answer or sandbox_secret):
        # Testing hooks weaken security; API.md §12 says they are refused outside local and test.
        raise SettingsError("CAPTCHA_TEST_ANSWER and SANDBOX_PAYMENT_SECRET are only allowed in local and test")
    codes = tuple(c.strip() for c in _required("SMS_ALLOWED_COUNTRY_CODES").split(",") if c.strip())
    if not codes or any(not c.startswith("+") or not (c[1:].isascii() and c[1:].isdigit()) for c in codes):
        raise SettingsError("SMS_ALLOWED_COUNTRY_CODES must be a comma-separated list like +86,+852")
    return Settings(
        stage=stage,
        region=_required("AWS_DEFAULT_REGION"),
        resource_prefix=_required("RESOURCE_PREFIX"),
        sms_allowed_country_codes=codes,
        sms_per_ip_per_hour=_int("SMS_PER_IP_PER_HOUR", minimum=1),
        login_failures_per_ip_before_captcha=_int("LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA", minimum=1),
        captcha_test_answer=captcha_answer,
        sandbox_payment_secret=sandbox_secret,
        echo_sms=stage == "local",
        public_api_url=_public_url("PUBLIC_API_URL", https=stage not in TEST_STAGES),
        sms_rate_per_second=_int("SMS_RATE_PER_SECOND", minimum=1),
    )


@cache
def get_settings() -> Settings:
    return load_settings()
