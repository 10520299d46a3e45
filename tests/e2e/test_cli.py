"""The operations CLI against the running local stack, as an operator would use it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, sign_in

pytestmark = pytest.mark.e2e


def _cli(stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    port = stack.emulator_url.rsplit(":", 1)[1]
    full_env = {**os.environ, "AWS_EMULATOR_PORT": port, **env}
    full_env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_cli_creates_an_admin_who_can_sign_in_over_http(stack):
    result = _cli(stack, "create-admin", "--account", "ops-admin", "--phone", "+8613655556666",
                  "--password-env", "NEW_ADMIN_PASSWORD", NEW_ADMIN_PASSWORD="calm lake at dawn")
    assert result.returncode == 0, result.stderr
    assert "ops-admin" in result.stdout
    tokens = sign_in(stack, "ops-admin", "calm lake at dawn", "+8613655556666")
    assert tokens["user"]["role"] == "admin" and tokens["user"]["must_change_password"] is True


def test_cli_refuses_a_duplicate_admin(stack):
    result = _cli(stack, "create-admin", "--phone", "+8613800000000", "--password-env", "P", P="calm lake at dawn")
    assert result.returncode == 1 and "already exists" in result.stdout


def test_cli_lists_jobs_and_rejects_unknown_ones(stack):
    assert _cli(stack, "list-jobs").returncode == 0
    unknown = _cli(stack, "run-job", "no-such-job")
    assert unknown.returncode == 2 and "Unknown job" in unknown.stdout
