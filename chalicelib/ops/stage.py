"""A stage's environment, read from `.chalice/config.json` (used by the CLI and the local stack)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


# The running local stack (`make run`) describes itself in `<data folder>/runtime.json` while it is up, so the
# CLI and the sandbox helper find its ports and settings; variables set by the caller still take precedence.
DEVSTACK_DIR_VARIABLE = "DEVSTACK_DIR"
RUNTIME_FILE = "runtime.json"
DEFAULT_EMULATOR_PORT = 4566
DEFAULT_API_PORT = 8000


def devstack_dir() -> Path:
    """The local stack's git-ignored data folder (saved emulator state, runtime file)."""
    return Path(os.environ.get(DEVSTACK_DIR_VARIABLE) or ROOT / ".devstack")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_stack(folder: Path | None = None) -> dict[str, Any] | None:
    """The runtime description of a local stack that is up, or None (no file, or its process is gone)."""
    try:
        described = json.loads(((folder or devstack_dir()) / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(described, dict) or not _alive(int(described.get("pid") or 0)):
        return None
    return described


def _local_url(port_variable: str, described: str, default_port: int) -> str:
    """The port in `port_variable` if set, else the running stack's `described` URL, else the default port."""
    if os.environ.get(port_variable):
        return f"http://127.0.0.1:{os.environ[port_variable]}"
    stack = running_stack()
    if stack:
        return str(stack[described])
    return f"http://127.0.0.1:{default_port}"


def local_emulator_url() -> str:
    """`AWS_EMULATOR_PORT` if set, else the running stack's emulator, else the default port."""
    return _local_url("AWS_EMULATOR_PORT", "emulator_url", DEFAULT_EMULATOR_PORT)


def local_api_url() -> str:
    """`API_PORT` if set, else the running stack's API, else the default port."""
    return _local_url("API_PORT", "api_url", DEFAULT_API_PORT)


def apply_local() -> dict[str, str]:
    """The `local` stage as the running stack has it: its emulator, its API and its caller settings (env wins)."""
    stack = running_stack() or {}
    for key, value in (stack.get("settings") or {}).items():
        if key in CALLER_OVERRIDES:
            os.environ.setdefault(key, str(value))
    applied = apply("local", local_emulator_url())
    # The stage's PUBLIC_API_URL names the default port; links and notify URLs must name the API actually up.
    os.environ["PUBLIC_API_URL"] = applied["PUBLIC_API_URL"] = local_api_url()
    return applied
