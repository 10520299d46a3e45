"""Typed, fail-fast settings read once from the environment.

Every value the app needs comes from a variable that `.chalice/config.json` sets per stage. A missing
variable is a deployment error, so it raises at start-up instead of falling back to a guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

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


def _optional(name: str) -> str | None:
    # Optional by design (test hooks, provider credentials): absence means "feature off".
    value = os.environ.get(name)
    return value or None


def resource_name(logical: str) -> str:
    """The physical name of a table, bucket, queue or topic in the current stage."""
    return f"{_required('RESOURCE_PREFIX')}-{logical}"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    resource_prefix: str
    sms_allowed_country_codes: tuple[str, ...]
    sms_per_ip_per_hour: int
    captcha_test_answer: str | None
    sandbox_payment_secret: str | None
    echo_sms: bool
    notice_sms_per_second: int  # urgent-notice SMS handed to SNS per second (spread with SQS delays)

    @property
    def is_test_stage(self) -> bool:
        return self.stage in TEST_STAGES

    def name(self, logical: str) -> str:
        return f"{self.resource_prefix}-{logical}"


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
    if not codes or any(not c.startswith("+") or not c[1:].isdigit() for c in codes):
        raise SettingsError("SMS_ALLOWED_COUNTRY_CODES must be a comma-separated list like +86,+852")
    return Settings(
        stage=stage,
        region=_required("AWS_DEFAULT_REGION"),
        resource_prefix=_required("RESOURCE_PREFIX"),
        sms_allowed_country_codes=codes,
        sms_per_ip_per_hour=_int("SMS_PER_IP_PER_HOUR", minimum=1),
        captcha_test_answer=captcha_answer,
        sandbox_payment_secret=sandbox_secret,
        echo_sms=stage == "local",
        notice_sms_per_second=_int("NOTICE_SMS_PER_SECOND", minimum=1),
    )


@cache
def get_settings() -> Settings:
    return load_settings()
