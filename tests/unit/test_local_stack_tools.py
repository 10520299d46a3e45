"""The ops CLI and the sandbox helper find the running local stack (its ports and settings) by its runtime file."""

from __future__ import annotations

import json
import os

import pytest

from chalicelib import cli
from chalicelib.ops import sandbox, stage


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """A process environment as a newcomer's shell has it (no stage variables), restored afterwards."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "STAGE", "SANDBOX_", "SMS_", "CAPTCHA_", "API_PORT", "FRESH"))}
    clean["DEVSTACK_DIR"] = str(tmp_path)
    monkeypatch.setattr(os, "environ", clean)
    return clean


def running_stack(folder, pid: int | None = None, **settings: str) -> None:
    (folder / stage.RUNTIME_FILE).write_text(json.dumps({
        "pid": pid or os.getpid(), "api_url": "http://127.0.0.1:18001", "emulator_url": "http://127.0.0.1:14567",
        "settings": settings}))


def test_cli_talks_to_the_running_stacks_emulator_with_its_settings(environ, tmp_path):
    running_stack(tmp_path, SMS_PER_IP_PER_HOUR="77", CAPTCHA_TEST_ANSWER="ABC")
    cli._setup("local")
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:14567"
    assert environ["SMS_PER_IP_PER_HOUR"] == "77" and environ["CAPTCHA_TEST_ANSWER"] == "ABC"


def test_variables_set_by_the_caller_win_over_the_runtime_file(environ, tmp_path):
    running_stack(tmp_path, SMS_PER_IP_PER_HOUR="77")
    environ.update(AWS_EMULATOR_PORT="15000", SMS_PER_IP_PER_HOUR="5")
    cli._setup("local")
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:15000" and environ["SMS_PER_IP_PER_HOUR"] == "5"


def test_a_stale_runtime_file_is_ignored(environ, tmp_path):
    running_stack(tmp_path, pid=2**22 + 12345)  # above Linux's pid_max: no such process
    cli._setup("local")
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_sandbox_helper_pays_on_the_running_stack_without_any_setting_given(environ, tmp_path, monkeypatch):
    running_stack(tmp_path, SANDBOX_PAYMENT_SECRET="stack-secret")
    calls = []
    monkeypatch.setattr(sandbox, "complete", lambda *args: calls.append(args) or 200)
    assert sandbox.main(["sandbox://pay?payment_id=pay_1&token=t"]) == 0
    assert calls == [("sandbox://pay?payment_id=pay_1&token=t", "http://127.0.0.1:18001", "stack-secret",
                      "succeeded")]


def test_sandbox_helper_falls_back_to_the_local_stage_defaults(environ, monkeypatch):
    calls = []
    monkeypatch.setattr(sandbox, "complete", lambda *args: calls.append(args) or 200)
    assert sandbox.main(["sandbox://pay?payment_id=pay_1&token=t", "--fail"]) == 0
    assert calls[0][1:] == ("http://127.0.0.1:8000", "local-sandbox-secret", "failed")


def test_cli_builds_receipt_links_for_the_running_stacks_api_port(environ, tmp_path):
    # given a stack whose API is on port 18001, not the stage's default 8000
    running_stack(tmp_path)
    # when the CLI takes its settings
    cli._setup("local")
    # then the links it would print on receipts, and the providers' notify URLs, name that API
    from chalicelib.settings import load_settings

    settings = load_settings()
    assert settings.receipt_verify_url == "http://127.0.0.1:18001/receipts"
    assert settings.notify_url("alipay") == "http://127.0.0.1:18001/payments/callbacks/alipay"


def test_cli_without_a_running_stack_uses_api_port(environ):
    environ["API_PORT"] = "18555"
    cli._setup("local")
    from chalicelib.settings import load_settings

    assert load_settings().receipt_verify_url == "http://127.0.0.1:18555/receipts"
