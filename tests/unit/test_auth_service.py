"""The authentication rules (API.md §3, §5) on the services themselves, with in-memory fakes: no moto, no sockets."""

from __future__ import annotations

import pyotp
import pytest

from chalicelib.domain import auth, passwords
from chalicelib.domain.authflow import Challenge
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.sessions import SessionService
from chalicelib.errors import DomainError
from tests.unit.auth_fakes import (
    Clock,
    FakeAuthSms,
    FakeBox,
    FakeCaptchas,
    FakeChallenges,
    FakeCounters,
    FakeDevices,
    FakeLoginState,
)
from tests.unit.fakes import FakeAccounts, FakeAudit, FakeSessions, signer

PASSWORD = "correct horse battery"
CAPTCHA = "TEST42"
IP = "10.0.0.1"


def _code(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


class Setup:
    """Each service built with only its own collaborators, as deps.auth_service() does."""

    def __init__(self, ip_failures: int = 100) -> None:
        self.clock = Clock()
        self.accounts, self.audit, self.sms, self.box = FakeAccounts(), FakeAudit(), FakeAuthSms(), FakeBox()
        self.counters = FakeCounters()
        self.state, self.store = FakeLoginState(self.accounts), FakeChallenges(self.counters)
        self.devices_store, self.captchas = FakeDevices(), FakeCaptchas()
        keys = lambda purpose: f"key-{purpose}".encode()  # noqa: E731
        config = auth.AuthConfig(sms_per_ip_per_hour=100, ip_failures_before_captcha=ip_failures,
                                 captcha_test_answer=CAPTCHA)
        self.sessions = SessionService(FakeSessions(), signer())
        self.captcha = auth.CaptchaService(self.captchas, keys, config, lambda answer: b"png", self.clock)
        self.password = auth.PasswordStep(self.accounts, self.state, self.counters, self.captcha, self.audit, config,
                                          self.clock)
        self.challenges = auth.ChallengeService(self.store)
        self.codes = auth.SmsCodes(self.store, self.challenges, self.sms, keys, config, self.clock)
        self.totp = auth.TotpFactor(self.state, self.box)
        self.factors = auth.SecondFactors(auth.SmsFactor(self.codes), self.totp)
        self.devices = auth.TrustedDevices(self.devices_store, self.state)
        self.sign_in = auth.SignIn(self.password, self.devices, self.challenges, self.factors, self.accounts,
                                   self.sessions, self.audit, self.clock)
        self.enrollment = auth.TotpEnrollment(self.accounts, self.state, self.box, self.counters, self.totp,
                                              self.audit, self.clock)
        self.recovery = auth.Recovery(self.accounts, self.captcha, self.challenges, self.codes, self.devices,
                                      self.sessions, self.audit, keys, self.clock)
        self.phone_change = auth.PhoneChange(self.accounts, self.password, self.challenges, self.codes, self.sms,
                                             self.audit, self.clock)
        self.owner = Account("u1", "owner01", "王女士", "+8613800000001", "owner",
                             passwords.hash_password(PASSWORD), "2026-01-01T00:00:00Z")
        self.accounts.create(self.owner)

    def login(self, password: str = PASSWORD, login: str = "owner01", **kwargs):
        return self.sign_in.login(login, password, IP, **kwargs)

    def solved(self) -> dict[str, str]:
        return {"captcha_id": self.captcha.new().captcha_id, "captcha_answer": CAPTCHA}

    def fail(self, times: int, login: str = "owner01") -> list[str]:
        """Wrong passwords, with a captcha from the fourth on (as a client must)."""
        return [_code(lambda n=n: self.login("wrong password!", login, **(self.solved() if n >= 3 else {})))
                for n in range(times)]

    def sms_challenge(self) -> str:
        challenge_id = self.login().challenge_id
        self.codes.send(challenge_id, IP)
        return challenge_id

    def principal(self) -> Principal:
        return Principal("u1", "owner", "s1", frozenset(), frozenset(), False)


@pytest.fixture
def s() -> Setup:
    return Setup()


# -- password step ----------------------------------------------------------------------------------------------


def test_five_failures_lock_the_account_for_fifteen_minutes(s):
    assert s.fail(5) == ["invalid_credentials"] * 5
    assert _code(lambda: s.login(**s.solved())) == "account_locked"
    s.clock.now += 15 * 60 - 1
    assert _code(lambda: s.login(**s.solved())) == "account_locked"
    s.clock.now += 1
    assert isinstance(s.login(), auth.MfaRequired)


def test_the_lock_answer_says_how_long_to_wait(s):
    s.fail(5)
    s.clock.now += 600
    with pytest.raises(DomainError) as caught:
        s.login()
    assert caught.value.details == {"retry_after": 300}


def test_a_captcha_is_demanded_after_three_failures_and_works_once(s):
    s.fail(3)
    assert _code(lambda: s.login()) == "captcha_required"
    solved = s.solved()
    assert _code(lambda: s.login(captcha_id=solved["captcha_id"], captcha_answer="NOPE1")) == "captcha_invalid"
    solved = s.solved()
    assert _code(lambda: s.login("wrong password!", **solved)) == "invalid_credentials"
    assert _code(lambda: s.login(**solved)) == "captcha_invalid"  # the same captcha again


def test_a_captcha_expires_after_two_minutes(s):
    solved = s.solved()
    s.clock.now += 120
    assert _code(lambda: s.captcha.check(solved["captcha_id"], CAPTCHA)) == "captcha_invalid"


def test_an_unknown_name_answers_and_locks_like_a_real_account(s):
    assert s.fail(5, login="ghost-account") == s.fail(5) == ["invalid_credentials"] * 5
    assert _code(lambda: s.login(login="ghost-account", **s.solved())) == "account_locked"
    assert _code(lambda: s.login(**s.solved())) == "account_locked"
    assert "account.locked" in [e.action for e in s.audit.events if e.user_id.startswith("name#")]


def test_many_failures_from_one_address_demand_a_captcha():
    s = Setup(ip_failures=2)
    s.fail(2, login="ghost-a")
    assert _code(lambda: s.login()) == "captcha_required"
    assert isinstance(s.login(**s.solved()), auth.MfaRequired)


# -- challenges -------------------------------------------------------------------------------------------------


def test_an_sms_code_signs_in_once(s):
    challenge_id = s.sms_challenge()
    code = s.sms.last_code(s.owner.phone)
    signed_in = s.sign_in.verify(challenge_id, "sms", code)
    assert signed_in.account.user_id == "u1" and signed_in.tokens.access_token
    assert _code(lambda: s.sign_in.verify(challenge_id, "sms", code)) == "challenge_expired"


def test_a_challenge_expires_after_five_minutes(s):
    challenge_id = s.sms_challenge()
    code = s.sms.last_code(s.owner.phone)
    s.clock.now += 300
    assert _code(lambda: s.sign_in.verify(challenge_id, "sms", code)) == "challenge_expired"


def test_a_challenge_allows_five_wrong_codes_then_dies(s):
    challenge_id = s.sms_challenge()
    code = s.sms.last_code(s.owner.phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    answers = [_code(lambda: s.sign_in.verify(challenge_id, "sms", wrong)) for _ in range(5)]
    assert answers == ["invalid_code"] * 4 + ["challenge_expired"]
    assert _code(lambda: s.sign_in.verify(challenge_id, "sms", code)) == "challenge_expired"


def test_a_method_the_challenge_did_not_offer_is_refused(s):
    challenge_id = s.sms_challenge()
    assert _code(lambda: s.sign_in.verify(challenge_id, "totp", "123456")) == "method_unavailable"


def test_a_code_is_resent_only_after_a_minute(s):
    challenge_id = s.sms_challenge()
    assert _code(lambda: s.codes.send(challenge_id, IP)) == "rate_limited"
    s.clock.now += 60
    s.codes.send(challenge_id, IP)
    assert len(s.sms.to(s.owner.phone)) == 2


def test_a_phone_gets_at_most_five_sign_in_codes_an_hour(s):
    s.clock.now -= s.clock.now % 3600  # the start of an hour, so the texts below share its window
    for _ in range(5):
        s.sms_challenge()
        s.clock.now += 61
    challenge_id = s.login().challenge_id
    assert _code(lambda: s.codes.send(challenge_id, IP)) == "rate_limited"
    assert len(s.sms.to(s.owner.phone)) == 5


def test_a_failed_text_is_not_charged(s):
    challenge_id = s.login().challenge_id
    s.sms.failing = True
    assert _code(lambda: s.codes.send(challenge_id, IP)) == "sms_unavailable"
    s.sms.failing = False
    s.codes.send(challenge_id, IP)  # at once: the resend window was given back
    assert s.sign_in.verify(challenge_id, "sms", s.sms.last_code(s.owner.phone)).account.user_id == "u1"


# -- factors ----------------------------------------------------------------------------------------------------


def _with_totp(s: Setup) -> str:
    secret, _ = s.enrollment.setup(s.principal())
    s.clock.now += 30  # a code of a later step than the one activation used
    s.enrollment.activate(s.principal(), pyotp.TOTP(secret).at(s.clock.now - 30))
    return secret


def test_an_authenticator_code_signs_in_but_never_twice(s):
    secret = _with_totp(s)
    first = s.login()
    assert first.methods == ("sms", "totp")
    code = pyotp.TOTP(secret).at(s.clock.now)
    s.sign_in.verify(first.challenge_id, "totp", code)
    second = s.login()
    assert _code(lambda: s.sign_in.verify(second.challenge_id, "totp", code)) == "invalid_code"


def test_a_trusted_device_skips_the_second_factor_until_a_reset(s):
    challenge_id = s.sms_challenge()
    token = s.sign_in.verify(challenge_id, "sms", s.sms.last_code(s.owner.phone), trust_device=True).device_token
    assert token
    assert isinstance(s.login(device_token=token), auth.SignedIn)
    assert isinstance(s.login(device_token="someone else's"), auth.MfaRequired)
    s.clock.now += 1
    started = s.recovery.start("owner01", IP, **s.solved())
    s.recovery.confirm(started.challenge_id, s.sms.last_code(s.owner.phone), "a brand new passphrase")
    assert isinstance(s.login("a brand new passphrase", device_token=token), auth.MfaRequired)


class FakePasskey:
    """A factor added later, by registering it: offered to accounts with a key, proven by a signed challenge."""

    method = "passkey"

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    def offered(self, account: Account) -> bool:
        return account.user_id in self.keys

    def verify(self, challenge: Challenge, account: Account, proof: str, now: int) -> bool:
        return proof == f"{self.keys[account.user_id]}:{challenge.challenge_id}"


def test_a_new_second_factor_plugs_in_by_registering(s):
    passkey = FakePasskey()
    s.factors.register(passkey)
    assert s.login().methods == ("sms",)  # not offered without a key
    passkey.keys["u1"] = "key-1"
    challenge = s.login()
    assert challenge.methods == ("sms", "passkey")
    assert _code(lambda: s.sign_in.verify(challenge.challenge_id, "passkey", "forged")) == "invalid_code"
    signed_in = s.sign_in.verify(challenge.challenge_id, "passkey", f"key-1:{challenge.challenge_id}")
    assert signed_in.account.user_id == "u1"
    with pytest.raises(ValueError):
        s.factors.register(FakePasskey())


# -- recovery and phone change ----------------------------------------------------------------------------------


def test_reset_texts_are_limited_to_three_an_hour(s):
    s.clock.now -= s.clock.now % 3600
    for _ in range(3):
        s.recovery.start("owner01", IP, **s.solved())
        s.clock.now += 61
    assert _code(lambda: s.recovery.start("owner01", IP, **s.solved())) == "rate_limited"
    assert len(s.sms.to(s.owner.phone)) == 3
    # the sign-in codes have their own quota
    s.sms_challenge()
    assert len(s.sms.to(s.owner.phone)) == 4


def test_a_reset_of_an_unknown_name_answers_alike_and_sends_nothing(s):
    started = s.recovery.start("ghost-account", IP, **s.solved())
    assert started.methods == ("sms",) and started.phone_hint.startswith("+86 13")
    assert s.sms.sent == []


def test_a_reset_sets_the_password_and_clears_the_lock(s):
    s.fail(5)
    started = s.recovery.start("owner01", IP, **s.solved())
    s.recovery.confirm(started.challenge_id, s.sms.last_code(s.owner.phone), "a brand new passphrase")
    assert _code(lambda: s.login()) == "invalid_credentials"
    assert isinstance(s.login("a brand new passphrase"), auth.MfaRequired)


def test_phone_change_texts_the_new_number_and_tells_the_old_one(s):
    new_phone = "+8613900000009"
    challenge_id = s.phone_change.start(s.principal(), new_phone, PASSWORD, IP)
    assert s.sms.to(s.owner.phone) == []
    s.phone_change.confirm(s.principal(), challenge_id, s.sms.last_code(new_phone))
    assert s.accounts.get("u1").phone == new_phone
    assert "手机号已变更" in s.sms.to(s.owner.phone)[-1]


def test_phone_change_needs_the_password_and_counts_its_failures(s):
    answers = [_code(lambda: s.phone_change.start(s.principal(), "+8613900000009", "wrong", IP))
               for _ in range(5)]
    assert answers == ["invalid_credentials"] * 5
    assert _code(lambda: s.phone_change.start(s.principal(), "+8613900000009", PASSWORD, IP)) == "account_locked"
    assert s.sms.sent == []
