from __future__ import annotations

import pytest

from chalicelib.domain import passwords
from chalicelib.domain.passwords import WeakPassword, check_policy


def test_hash_password_uses_argon2id_with_owasp_parameters():
    # given / when
    stored = passwords.hash_password("correct horse battery")
    # then: $argon2id$v=19$m=19456,t=2,p=1$...
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2


def test_verify_password_accepts_the_right_password_only():
    stored = passwords.hash_password("correct horse battery")
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse battery ")
    assert not passwords.verify_password("not-a-hash", "anything")


def test_verify_password_normalises_unicode():
    stored = passwords.hash_password("ｐａｓｓ密码字ｗｏｒｄ")  # full-width letters
    assert passwords.verify_password(stored, "pass密码字word")


@pytest.mark.parametrize("password, reason", [
    ("short", "at least 8"),
    ("x" * 129, "at most 128"),
    ("password1", "common"),
    ("qwertyuiop", "sequence"),
    ("aaaaaaaaaaaa", "repeats"),
    ("my-zhangwei-home", "account name"),
    ("tel13800138000!", "phone"),
])
def test_check_policy_refuses_weak_passwords(password, reason):
    with pytest.raises(WeakPassword) as caught:
        check_policy(password, account="zhangwei", phone="+8613800138000")
    assert reason in caught.value.message
    assert caught.value.code == "weak_password"


@pytest.mark.parametrize("password, reason", [
    ("dearbook", "common"), ("woaini1314", "common"), ("WoAiNi1314!", "common"), ("zhangwei1988", "common"),
    ("qq5201314", "common"), ("123123123", "repeats"), ("asdasdasd", "repeats"), ("abcabcabcabc", "repeats"),
    ("12341234", "repeats"), ("987654321", "sequence"), ("56789012", "sequence"), ("qwer1234", "sequence"),
    ("asdfghjk", "sequence"), ("zyxwvuts", "sequence"), ("abc123xyz", "sequence"), ("19900520", "date"),
])
def test_common_chinese_repeated_and_sequential_passwords_are_refused(password, reason):
    with pytest.raises(WeakPassword) as caught:
        check_policy(password)
    assert reason in caught.value.details["reason"]


@pytest.mark.parametrize("password", ["wo ai bei jing tian an men", "1qa 9zm 4rt 7uj", "19901350", "qwerty-lamp-77"])
def test_patterns_do_not_refuse_ordinary_passwords(password):
    check_policy(password)


LONGEST = "".join(chr(0x4E00 + i * 7) for i in range(128))


@pytest.mark.parametrize("password", ["correct horse battery", "长城永远不倒下来了", LONGEST, "Tr0ub4dor&3-xyz"])
def test_check_policy_accepts_long_unusual_passwords_without_composition_rules(password):
    check_policy(password, account="zhangwei", phone="+8613800138000")


def test_common_password_list_is_large():
    assert len(passwords._common_passwords()) >= 10_000


def test_generated_initial_password_passes_the_policy():
    for _ in range(20):
        check_policy(passwords.generate_initial_password(), account="someone", phone="+8613800138000")


def test_the_dummy_hash_costs_what_a_real_hash_costs():
    # unknown accounts are verified against it: same algorithm and cost parameters as a stored password
    real = passwords.hash_password("some real password")
    assert passwords.dummy_hash().rsplit("$", 2)[0] == real.rsplit("$", 2)[0]
    assert passwords.dummy_hash().startswith("$argon2id$")
