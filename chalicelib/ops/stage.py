"""A stage's environment, read from `.chalice/config.json` (used by the CLI and the local stack)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_REGION = "us-east-1"
# Test hooks and per-run knobs that a caller may set before the stage's defaults are applied.
CALLER_OVERRIDES = ("CAPTCHA_TEST_ANSWER", "SMS_PER_IP_PER_HOUR", "LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA",
                    "SANDBOX_PAYMENT_SECRET")


def stage_variables(stage: str) -> dict[str, str]:
    """The environment `.chalice/config.json` gives a stage (top level, then the stage's own)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    if stage not in config["stages"]:
        raise SystemExit(f"unknown stage {stage!r}; known: {', '.join(config['stages'])}")
    variables = dict(config.get("environment_variables", {}))
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return variables


def apply(stage: str, emulator_url: str | None) -> dict[str, str]:
    """Set the stage's environment in this process; with an emulator URL, point every AWS client at it."""
    env = dict(stage_variables(stage))
    if emulator_url:
        env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_ENDPOINT_URL=emulator_url)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
    if stage in ("local", "test"):
        env.update(AWS_DEFAULT_REGION=LOCAL_REGION, AWS_REGION=LOCAL_REGION)
        env.setdefault("AWS_ACCESS_KEY_ID", "local")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    for key, value in env.items():
        if key in CALLER_OVERRIDES and key in os.environ:
            continue
        os.environ[key] = value
    return {k: os.environ[k] for k in env}
