"""Token key rotation (README "Rotating the token signing key"): what must survive it does."""

from __future__ import annotations

import re

import pytest

from chalicelib import deps
from tests.integration.helpers import login
from tests.integration.test_bills_flow import _receipt_text, billed_world, drain_jobs, pay, sandbox_callback


@pytest.fixture
def rotations(aws):
    """Rotate with the operations CLI's own function; put the original keys back afterwards so the session's
    other tokens (the admin's) stay valid."""
    from chalicelib.names import TOKEN_KEYS_SECRET
    from chalicelib.ops.keys import rotate_token_keys

    client = deps.aws_client("secretsmanager")
    secret_id = deps.get_settings().name(TOKEN_KEYS_SECRET)
    original = client.get_secret_value(SecretId=secret_id)["SecretString"]
    yield rotate_token_keys
    client.put_secret_value(SecretId=secret_id, SecretString=original)
    deps.keyring().reload()


def _paid_receipt(world):
    api = world.api
    billed_world(world)
    owner = world.owner()
    bill_ids = [b["bill_id"] for b in api.get("/bills?status=unpaid", token=owner.token).body["items"]]
    payment = pay(api, owner, bill_ids).body
    assert sandbox_callback(api, payment["payment_id"], payment["amount_cents"]).status == 200
    drain_jobs()
    receipt_no = api.get(f"/payments/{payment['payment_id']}", token=owner.token).body["receipt_no"]
    assert api.get(f"/payments/{payment['payment_id']}/receipt", token=owner.token).status == 200
    # the code as the payer reads it on the PDF
    code = re.search(r"验证码：\s*([A-Z2-7]{10})", _receipt_text(receipt_no)).group(1)
    return owner, payment, receipt_no, code


def test_receipt_codes_stay_valid_after_two_rotations(world, rotations):
    _, _, receipt_no, code = _paid_receipt(world)
    assert world.api.get(f"/receipts/{receipt_no}/verify?code={code}").status == 200
    rotations()
    rotations()
    deps.reset()  # a fresh container reads the rotated secret
    checked = world.api.get(f"/receipts/{receipt_no}/verify?code={code}")
    assert checked.status == 200 and checked.body["valid"] is True


def test_cursors_survive_one_rotation_and_fail_cleanly_after_two(world, rotations):
    owner = world.owner()
    first = world.api.get("/me/history?limit=1", token=owner.token)
    assert first.status == 200 and first.body["next_cursor"]
    cursor = first.body["next_cursor"]
    rotations()
    assert world.api.get(f"/me/history?limit=1&cursor={cursor}", token=owner.token).status == 200
    rotations()
    token = login(world.api, owner.account, owner.password)  # the old access token's key is gone too
    stale = world.api.get(f"/me/history?limit=1&cursor={cursor}", token=token)
    assert stale.status == 400 and stale.code == "invalid_cursor"
