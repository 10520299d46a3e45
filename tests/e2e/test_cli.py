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


def test_run_job_fee_reminders_texts_an_owner_with_a_due_bill(stack):
    from datetime import UTC, datetime, timedelta

    from tests.e2e.conftest import StackApi, admin_login, wait_for
    from tests.integration.helpers import make_world

    world = make_world(StackApi(stack), admin_login(stack))
    owner = world.owner()
    due = (datetime.now(UTC) + timedelta(hours=8)).date()
    status, _, _ = stack.request("POST", "/staff/bills", {
        "unit_id": world.unit_ids[0], "type": "other", "period": due.strftime("%Y-%m"), "due_date": due.isoformat(),
        "items": [{"code": "repair", "name": "公共维修分摊", "unit_price_cents": 8_800}]}, world.admin)
    assert status == 201
    result = _cli(stack, "run-job", "fee-reminders")
    assert result.returncode == 0, result.stderr
    assert '"enqueued"' in result.stdout
    texts = wait_for(lambda: [t for t in stack.sms_to(owner.phone) if "待缴" in t])
    assert texts == ["【物业】您有1笔费用待缴，合计88.00元，请登录业主App及时缴纳。如已缴纳请忽略本短信。"]
    again = _cli(stack, "run-job", "fee-reminders", "--dry-run")
    assert again.returncode == 0 and '"dry_run": true' in again.stdout


def test_cli_finds_the_running_stack_without_being_told_its_port(stack):
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_EMULATOR_PORT", "AWS_ENDPOINT_URL")}
    env["DEVSTACK_DIR"] = str(stack.data_dir)  # where the stack's runtime file is, as `.devstack/` is for make run
    result = subprocess.run([sys.executable, "-m", "chalicelib.cli", "run-job", "fee-reminders", "--dry-run"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"dry_run": true' in result.stdout
