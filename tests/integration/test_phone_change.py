"""Phone change (API.md §5): password re-authentication, a code to the new number, a notice to the old one."""

from __future__ import annotations

from tests.integration.helpers import latest_code, login_reply, random_phone, sms_inbox


def test_phone_change_moves_the_account_to_the_new_number(api, world):
    owner = world.owner()
    new_phone = random_phone()
    started = api.post("/me/phone", {"new_phone": new_phone, "password": owner.password}, token=owner.token)
    assert started.status == 202 and started.body["challenge_id"]
    code = latest_code(f"+86 {new_phone[3:6]}****{new_phone[-4:]}")
    done = api.post("/me/phone/verify", {"challenge_id": started.body["challenge_id"], "code": code},
                    token=owner.token)
    assert done.status == 204
    assert api.get("/me", token=owner.token).body["phone"] == new_phone
    notice = sms_inbox(owner.phone)[-1]
    assert "手机号已变更" in notice and new_phone not in notice
    # the new number signs in; the old one is free and no longer a login
    assert login_reply(api, new_phone, owner.password).body["status"] == "mfa_required"
    assert login_reply(api, owner.phone, owner.password).code == "invalid_credentials"


def test_phone_change_needs_the_right_password(api, world):
    owner = world.owner()
    reply = api.post("/me/phone", {"new_phone": random_phone(), "password": "not my password"}, token=owner.token)
    assert reply.status == 401 and reply.code == "invalid_credentials"


def test_phone_in_use_is_a_conflict(api, world):
    owner, other = world.owner(), world.owner()
    reply = api.post("/me/phone", {"new_phone": other.phone, "password": owner.password}, token=owner.token)
    assert reply.status == 409 and reply.code == "conflict"


def test_someone_elses_challenge_cannot_change_my_phone(api, world):
    owner, other = world.owner(), world.owner()
    new_phone = random_phone()
    started = api.post("/me/phone", {"new_phone": new_phone, "password": owner.password}, token=owner.token)
    code = latest_code(f"+86 {new_phone[3:6]}****{new_phone[-4:]}")
    stolen = api.post("/me/phone/verify", {"challenge_id": started.body["challenge_id"], "code": code},
                      token=other.token)
    assert stolen.status == 401
    assert api.get("/me", token=other.token).body["phone"] == other.phone


def test_wrong_code_changes_nothing(api, world):
    owner = world.owner()
    started = api.post("/me/phone", {"new_phone": random_phone(), "password": owner.password}, token=owner.token)
    wrong = api.post("/me/phone/verify", {"challenge_id": started.body["challenge_id"], "code": "000000"},
                     token=owner.token)
    assert wrong.status == 401 and wrong.code == "invalid_code"
    assert api.get("/me", token=owner.token).body["phone"] == owner.phone


def test_an_unsent_notice_to_the_old_number_does_not_fail_the_change(api, world, monkeypatch):
    from chalicelib import deps

    owner = world.owner()
    new_phone = random_phone()
    started = api.post("/me/phone", {"new_phone": new_phone, "password": owner.password}, token=owner.token)
    code = latest_code(f"+86 {new_phone[3:6]}****{new_phone[-4:]}")

    def unreachable(phone: str, text: str) -> str:
        raise ConnectionError("SNS is unreachable")

    monkeypatch.setattr(deps.sms(), "send", unreachable)
    done = api.post("/me/phone/verify", {"challenge_id": started.body["challenge_id"], "code": code},
                    token=owner.token)
    assert done.status == 204
    assert api.get("/me", token=owner.token).body["phone"] == new_phone
