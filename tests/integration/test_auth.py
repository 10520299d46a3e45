"""API.md §3 over HTTP: second factor, limits, captcha, lockout, devices, TOTP, reset."""

from __future__ import annotations

import pyotp
import pytest

from chalicelib import deps
from tests.integration.helpers import (
    complete_mfa,
    latest_code,
    login,
    login_reply,
    login_tokens,
    sms_inbox,
)

CAPTCHA = "TEST42"  # CAPTCHA_TEST_ANSWER in tests/conftest.py


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    import time

    fake = Clock(time.time())
    with deps.override(epoch_clock=lambda: fake):
        yield fake


def _challenge(api, owner):
    reply = login_reply(api, owner.account, owner.password)
    assert reply.status == 200 and reply.body["status"] == "mfa_required"
    return reply.body


def _captcha(api) -> str:
    return api.get("/auth/captcha").body["captcha_id"]


def test_login_asks_for_a_second_factor_with_a_masked_phone(api, world):
    owner = world.owner()
    body = _challenge(api, owner)
    assert body["methods"] == ["sms"] and body["expires_in"] == 300
    assert body["phone_hint"] == f"+86 {owner.phone[3:6]}****{owner.phone[-4:]}"


def test_sms_code_signs_in_and_the_text_is_chinese(api, world):
    owner = world.owner()
    body = _challenge(api, owner)
    sent = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert sent.status == 202 and sent.body == {"resend_after": 60, "expires_in": 300}
    assert sms_inbox(owner.phone)[-1].startswith("【物业】验证码")
    verified = api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms",
                                         "code": latest_code(body["phone_hint"])})
    assert verified.status == 200 and verified.body["token_type"] == "Bearer"
    assert "device_token" not in verified.body


def test_a_code_is_single_use_and_bound_to_its_challenge(api, world):
    owner = world.owner()
    first, second = _challenge(api, owner), _challenge(api, owner)
    api.post("/auth/sms", {"challenge_id": first["challenge_id"]})
    code = latest_code(first["phone_hint"])
    other = api.post("/auth/verify", {"challenge_id": second["challenge_id"], "method": "sms", "code": code})
    assert other.status == 401 and other.code == "invalid_code"
    ok = api.post("/auth/verify", {"challenge_id": first["challenge_id"], "method": "sms", "code": code})
    assert ok.status == 200
    again = api.post("/auth/verify", {"challenge_id": first["challenge_id"], "method": "sms", "code": code})
    assert again.status == 401 and again.code == "challenge_expired"


def test_five_wrong_codes_kill_the_challenge(api, world):
    owner = world.owner()
    body = _challenge(api, owner)
    api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    code = latest_code(body["phone_hint"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    codes = [api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms", "code": wrong}).code
             for _ in range(5)]
    assert codes == ["invalid_code"] * 4 + ["challenge_expired"]
    late = api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms", "code": code})
    assert late.code == "challenge_expired"


def test_codes_and_challenges_expire_after_five_minutes(api, world, clock):
    owner = world.owner()
    body = _challenge(api, owner)
    api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    clock.now += 301
    late = api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms",
                                     "code": latest_code(body["phone_hint"])})
    assert late.status == 401 and late.code == "challenge_expired"


def test_resend_within_60_seconds_is_rate_limited_and_sends_nothing(api, world, clock):
    owner = world.owner()
    body = _challenge(api, owner)
    assert api.post("/auth/sms", {"challenge_id": body["challenge_id"]}).status == 202
    before = len(sms_inbox(owner.phone))
    clock.now += 30
    again = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert again.status == 429 and again.code == "rate_limited"
    assert 1 <= again.body["details"]["retry_after"] <= 30 and again.headers["retry-after"]
    assert len(sms_inbox(owner.phone)) == before
    clock.now += 31
    assert api.post("/auth/sms", {"challenge_id": body["challenge_id"]}).status == 202


def test_at_most_five_texts_per_phone_per_hour(api, world, clock):
    owner = world.owner()
    clock.now = (int(clock.now) // 3600 + 1) * 3600 + 5  # the start of a fresh hour window
    statuses = []
    for _ in range(6):
        body = _challenge(api, owner)
        statuses.append(api.post("/auth/sms", {"challenge_id": body["challenge_id"]}).status)
    assert statuses == [202] * 5 + [429]


def test_numbers_outside_the_allow_list_are_never_texted(api, world):
    phone = "+85291234567"
    created = api.post("/staff/owners", {"name": "HK", "phone": phone, "unit_ids": [world.unit_ids[1]]},
                       token=world.admin)
    body = login_reply(api, created.body["account"], created.body["initial_password"]).body
    refused = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert refused.status == 400 and refused.code == "method_unavailable"
    assert sms_inbox(phone) == []


def test_trusted_device_skips_the_second_factor_for_that_account_only(api, world):
    owner, other = world.owner(), world.owner()
    body = _challenge(api, owner)
    verified = complete_mfa(api, body, trust_device=True)
    device = verified.body["device_token"]
    direct = login_reply(api, owner.account, owner.password, device_token=device)
    assert direct.status == 200 and "access_token" in direct.body
    foreign = login_reply(api, other.account, other.password, device_token=device)
    assert foreign.body["status"] == "mfa_required"


def test_captcha_is_required_after_three_failures_and_is_single_use(api, world):
    owner = world.owner()
    for _ in range(3):
        assert login_reply(api, owner.account, "wrong password!").code == "invalid_credentials"
    needed = login_reply(api, owner.account, owner.password)
    assert needed.status == 400 and needed.code == "captcha_required"
    wrong = login_reply(api, owner.account, owner.password, captcha_id=_captcha(api), captcha_answer="nope")
    assert wrong.status == 400 and wrong.code == "captcha_invalid"
    captcha_id = _captcha(api)
    ok = login_reply(api, owner.account, owner.password, captcha_id=captcha_id, captcha_answer=CAPTCHA.lower())
    assert ok.status == 200 and ok.body["status"] == "mfa_required"
    reused = login_reply(api, owner.account, "wrong password!", captcha_id=captcha_id, captcha_answer=CAPTCHA)
    # the success reset the counter, so no captcha is needed; the reuse is therefore only checked when needed
    assert reused.code == "invalid_credentials"


def test_captcha_cannot_be_used_twice(api):
    captcha_id = _captcha(api)
    service = deps.auth_service()
    service._check_captcha(captcha_id, CAPTCHA)
    with pytest.raises(Exception) as caught:
        service._check_captcha(captcha_id, CAPTCHA)
    assert getattr(caught.value, "code", "") == "captcha_invalid"


def test_unknown_accounts_also_need_a_captcha_after_three_failures(api):
    for _ in range(3):
        assert login_reply(api, "ghost-account-x1", "whatever pass").code == "invalid_credentials"
    assert login_reply(api, "ghost-account-x1", "whatever pass").code == "captcha_required"


def test_many_failures_from_one_address_require_a_captcha(api, world):
    from dataclasses import replace

    owner = world.owner()
    with deps.rebuilt("auth_service", auth_config=replace(deps.auth_config(), ip_failures_before_captcha=2)):
        login_reply(api, "ghost-a-1", "x" * 8)
        login_reply(api, "ghost-a-2", "x" * 8)
        assert login_reply(api, owner.account, owner.password).code == "captcha_required"


def test_five_failures_lock_the_account_for_fifteen_minutes(api, world, clock):
    owner = world.owner()
    for attempt in range(5):
        extra = {"captcha_id": _captcha(api), "captcha_answer": CAPTCHA} if attempt >= 3 else {}
        assert login_reply(api, owner.account, "wrong password!", **extra).code == "invalid_credentials"
    locked = login_reply(api, owner.account, owner.password)
    assert locked.status == 423 and locked.code == "account_locked"
    assert locked.body["details"]["retry_after"] == 900
    # attempts during the lock do not extend it
    clock.now += 600
    again = login_reply(api, owner.account, "wrong password!")
    assert again.status == 423 and again.body["details"]["retry_after"] == 300
    clock.now += 301
    assert login_reply(api, owner.account, owner.password).body["status"] == "mfa_required"


def test_staff_unlock_ends_a_lock(api, world):
    owner = world.owner()
    for attempt in range(5):
        extra = {"captcha_id": _captcha(api), "captcha_answer": CAPTCHA} if attempt >= 3 else {}
        login_reply(api, owner.account, "wrong password!", **extra)
    assert login_reply(api, owner.account, owner.password).status == 423
    assert api.post(f"/staff/accounts/{owner.user_id}/unlock", token=world.staff.token).status == 204
    assert login_reply(api, owner.account, owner.password).status == 200


def test_password_reset_by_sms_works_while_locked_and_ends_sessions(api, world):
    owner = world.owner()
    old_session = login(api, owner.account, owner.password)
    for attempt in range(5):
        extra = {"captcha_id": _captcha(api), "captcha_answer": CAPTCHA} if attempt >= 3 else {}
        login_reply(api, owner.account, "wrong password!", **extra)
    started = api.post("/auth/password/reset", {"account": owner.account, "captcha_id": _captcha(api),
                                                "captcha_answer": CAPTCHA})
    assert started.status == 202 and started.body["phone_hint"].endswith(owner.phone[-4:])
    wrong = api.post("/auth/password/reset/confirm", {"challenge_id": started.body["challenge_id"],
                                                      "code": "000000", "new_password": "fresh river stones"})
    assert wrong.status == 401
    weak = api.post("/auth/password/reset/confirm", {"challenge_id": started.body["challenge_id"],
                                                     "code": latest_code(started.body["phone_hint"]),
                                                     "new_password": "password"})
    assert weak.status == 400 and weak.code == "weak_password"
    done = api.post("/auth/password/reset/confirm", {"challenge_id": started.body["challenge_id"],
                                                     "code": latest_code(started.body["phone_hint"]),
                                                     "new_password": "fresh river stones"})
    assert done.status == 204
    assert api.get("/me", token=old_session).status == 401
    assert login_tokens(api, owner.account, "fresh river stones")["access_token"]


def test_reset_of_an_unknown_account_answers_the_same_and_texts_nobody(api):
    from tests.integration.helpers import sms_messages

    before = len(sms_messages())
    reply = api.post("/auth/password/reset", {"account": "nobody-here-42", "captcha_id": _captcha(api),
                                              "captcha_answer": CAPTCHA})
    assert reply.status == 202 and set(reply.body) >= {"challenge_id", "phone_hint"}
    assert reply.body["phone_hint"].startswith("+86 1") and "****" in reply.body["phone_hint"]
    again = api.post("/auth/password/reset", {"account": "nobody-here-42", "captcha_id": _captcha(api),
                                              "captcha_answer": CAPTCHA})
    assert again.body["phone_hint"] == reply.body["phone_hint"]
    assert len(sms_messages()) == before


def test_reset_needs_a_captcha(api, world):
    owner = world.owner()
    reply = api.post("/auth/password/reset", {"account": owner.account, "captcha_id": "cap_x", "captcha_answer": "x"})
    assert reply.status == 400 and reply.code == "captcha_invalid"


def test_totp_setup_activate_sign_in_and_no_code_twice(api, world, clock):
    owner = world.owner()
    setup = api.post("/auth/totp/setup", token=owner.token)
    assert setup.status == 200 and setup.body["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup.body["secret"])
    assert api.post("/auth/totp/activate", {"code": totp.at(clock.now)}, token=owner.token).status == 204
    # the secret is encrypted at rest
    from chalicelib.adapters.dynamo.models import AccountModel

    stored = AccountModel.get(owner.user_id).totp_secret
    assert stored and setup.body["secret"] not in stored
    # a later step signs in once; the same code is refused on a new challenge
    clock.now += 30
    body = _challenge(api, owner)
    assert body["methods"] == ["sms", "totp"]
    code = totp.at(clock.now)
    assert api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "totp",
                                     "code": code}).status == 200
    replay = _challenge(api, owner)
    refused = api.post("/auth/verify", {"challenge_id": replay["challenge_id"], "method": "totp", "code": code})
    assert refused.status == 401 and refused.code == "invalid_code"
    # removal needs a fresh code
    clock.now += 30
    assert api.delete("/auth/totp", token=owner.token, body={"code": "000000"}).status == 401
    assert api.call("DELETE", "/auth/totp", {"code": totp.at(clock.now)}, token=owner.token).status == 204
    assert _challenge(api, owner)["methods"] == ["sms"]


def test_login_history_records_success_failure_and_lock(api, world):
    from chalicelib.adapters.dynamo.models import AuditEventModel

    owner = world.owner()
    login_reply(api, owner.account, "wrong password!")
    actions = [e.action for e in AuditEventModel.query(owner.user_id)]
    assert "login" in actions and "login.failed" in actions and "password.changed" in actions


