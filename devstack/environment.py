"""The process environment of the local stack: emulator endpoint, dummy credentials, the stage's variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def stage_variables(stage: str) -> dict[str, str]:
    """The environment `.chalice/config.json` gives a stage (top level, then the stage's own)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    variables = dict(config.get("environment_variables", {}))
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return variables


def emulator_environment(stage: str, emulator_url: str | None) -> dict[str, str]:
    """Variables that point boto3 and PynamoDB at the emulator with throw-away credentials."""
    env = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **stage_variables(stage),
    }
    if emulator_url:
        env["AWS_ENDPOINT_URL"] = emulator_url
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    return env


def apply(stage: str, emulator_url: str | None) -> dict[str, str]:
    """Set the stage's environment in this process (values already set by the caller win for test hooks)."""
    env = emulator_environment(stage, emulator_url)
    for key, value in env.items():
        if key in ("CAPTCHA_TEST_ANSWER", "SMS_PER_IP_PER_HOUR", "LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA",
                   "SANDBOX_PAYMENT_SECRET") and key in os.environ:
            continue
        os.environ[key] = value
    return {k: os.environ[k] for k in env}
