"""Sign-in as a resident does it on the running stack: password, texted code, captcha, reset."""

from __future__ import annotations

import base64
import re

import pytest

from tests.e2e.conftest import CAPTCHA_ANSWER, admin_login, sign_in, wait_for

pytestmark = pytest.mark.e2e


def _new_owner(stack, phone: str) -> tuple[str, str]:
    token = admin_login(stack)
    status, community, _ = stack.request("POST", "/staff/communities", {"name": "登录小区", "address": "上海"}, token)
    cid = community["community_id"]
    _, building, _ = stack.request("POST", f"/staff/communities/{cid}/buildings", {"name": "1号楼"}, token)
    _, unit, _ = stack.request("POST", "/staff/units", {"community_id": cid, "building_id": building["building_id"],
                                                       "unit_no": "101", "floor": 1, "area_m2": 88,
                                                       "layout": "2室"}, token)
    status, owner, _ = stack.request("POST", "/staff/owners", {"name": "钱七", "phone": phone,
                                                              "unit_ids": [unit["unit_id"]]}, token)
    assert status == 201
    return owner["account"], owner["initial_password"]


def test_owner_signs_in_with_the_code_texted_in_chinese(stack):
    account, password = _new_owner(stack, "+8613722223333")
    tokens = sign_in(stack, account, password, "+8613722223333")
    assert tokens["user"]["must_change_password"] is True
    text = stack.sms_to("+8613722223333")[-1]
    assert re.fullmatch(r"【物业】验证码\d{6}，5分钟内有效，请勿泄露。", text)
    assert wait_for(lambda: "[sms] to +8613722223333" in "".join(stack.output))  # echoed on the console


def test_captcha_is_a_real_png(stack):
    status, body, _ = stack.request("GET", "/auth/captcha")
    assert status == 200 and body["expires_in"] == 120
    png = base64.b64decode(body["image"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 500


def test_password_reset_by_sms_over_http(stack):
    account, password = _new_owner(stack, "+8613733334444")
    _, captcha, _ = stack.request("GET", "/auth/captcha")
    status, started, _ = stack.request("POST", "/auth/password/reset", {
        "account": account, "captcha_id": captcha["captcha_id"], "captcha_answer": CAPTCHA_ANSWER})
    assert status == 202 and started["phone_hint"] == "+86 137****4444"
    texts = wait_for(lambda: [t for t in stack.sms_to("+8613733334444") if "验证码" in t])
    code = re.search(r"验证码(\d{6})", texts[-1]).group(1)
    status, _, _ = stack.request("POST", "/auth/password/reset/confirm", {
        "challenge_id": started["challenge_id"], "code": code, "new_password": "spring rain on the river"})
    assert status == 204
    status, body, _ = stack.request("POST", "/auth/login", {"account": account, "password": password})
    assert status == 401 and body["code"] == "invalid_credentials"
    assert sign_in(stack, account, "spring rain on the river", "+8613733334444")["access_token"]
