from __future__ import annotations

import re

from chalicelib.domain import authflow as policy
from chalicelib.domain.authflow import Challenge


def _challenge(**kw) -> Challenge:
    fields = dict(challenge_id="ch_1", purpose="login", user_id="u_1", phone="+8613800138000", methods=("sms",),
                  expires_at=1000)
    fields.update(kw)
    return Challenge(**fields)


def test_challenge_is_dead_when_expired_used_or_out_of_attempts():
    assert not _challenge().dead(999)
    assert _challenge().dead(1000)
    assert _challenge(used=True).dead(0)
    assert _challenge(attempts=5).dead(0)
    assert not _challenge(attempts=4).dead(0)


def test_sms_limits_cover_ip_hour_phone_hour_and_phone_day():
    limits = policy.sms_limits("+8613800138000", "1.2.3.4", 7_200 + 10, per_ip_per_hour=20)
    assert [(limit.key.split("#")[0], limit.limit) for limit in limits] == [
        ("sms-ip", 20), ("sms-phone-h", 5), ("sms-phone-d", 10)]
    assert limits[0].window_ends_at == 10_800 and limits[2].window_ends_at == 86_400


def test_reset_texts_have_their_own_lower_quota():
    limits = policy.sms_limits("+8613800138000", "1.2.3.4", 0, 20, purpose="reset")
    assert [(limit.key.split("#")[0], limit.limit) for limit in limits] == [
        ("sms-ip", 20), ("sms-reset-h", 3), ("sms-reset-d", 5)]
    # the decoy of an unknown account is charged by its name's key, the same way
    decoy = policy.sms_limits(policy.name_subject("Nobody"), "1.2.3.4", 0, 20, purpose="reset")
    assert [limit.limit for limit in decoy] == [20, 3, 5]
    assert policy.name_subject(" Nobody ") == policy.name_subject("nobody")


def test_codes_are_six_digits_and_hashed_with_their_challenge():
    code = policy.new_code()
    assert re.fullmatch(r"\d{6}", code)
    key = b"k" * 32
    assert policy.code_hash(key, "ch_1", code) != policy.code_hash(key, "ch_2", code)
    assert policy.code_hash(key, "ch_1", code) == policy.code_hash(key, "ch_1", code)
    assert code not in policy.code_hash(key, "ch_1", code)


def test_captcha_answers_are_case_insensitive_and_texts_avoid_ambiguous_characters():
    key = b"k" * 32
    assert policy.captcha_hash(key, "c", "ab3d") == policy.captcha_hash(key, "c", " AB3D ")
    text = policy.captcha_text()
    assert 4 <= len(text) <= 6 and not set(text) & set("01OI")


def test_fake_phone_hint_is_stable_and_looks_real():
    key = b"k" * 32
    hint = policy.fake_phone_hint(key, "Nobody")
    assert hint == policy.fake_phone_hint(key, "nobody ")
    assert re.fullmatch(r"\+86 13\d\*\*\*\*\d{4}", hint)


def test_sms_text_is_chinese_and_names_the_validity():
    assert policy.sms_code_text("123456") == "【物业】验证码123456，5分钟内有效，请勿泄露。"
