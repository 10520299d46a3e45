"""The limits of API.md §3 under attack: re-authentication, concurrency, enumeration and SMS failures.

Concurrency tests call the service from threads (chalice.test.Client is not thread-safe); the integration
conftest gives moto DynamoDB's write isolation, so what is tested is the app's own conditions.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import deps
from chalicelib.errors import DomainError
from tests.integration.helpers import latest_code, login_reply, random_account, random_phone, sms_inbox

CAPTCHA = "TEST42"  # CAPTCHA_TEST_ANSWER in tests/conftest.py
WRONG = "wrong password!"


@pytest.fixture
def frozen():
    """The authentication steps' clock stands still (lock times compare exactly)."""
    import time

    now = time.time()
    with deps.override(epoch_clock=lambda: lambda: now):
        yield


def _captcha(api) -> dict[str, str]:
    return {"captcha_id": api.get("/auth/captcha").body["captcha_id"], "captcha_answer": CAPTCHA}


def _fail_five_times(api, login: str) -> list[str | None]:
    """Five wrong passwords, with a captcha from the fourth on (as a client must)."""
    return [login_reply(api, login, WRONG, **(_captcha(api) if attempt >= 3 else {})).code
            for attempt in range(5)]


def _outcome(call) -> str:
    try:
        result = call()
    except DomainError as error:
        return error.code
    return "mfa_required" if hasattr(result, "challenge_id") else "signed_in"


# -- 8. re-authentication counts like login ------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/me/phone", "/auth/password"])
def test_password_guesses_with_a_stolen_token_count_and_lock(api, world, route, frozen):
    from chalicelib.adapters.dynamo.models import AuditEventModel

    owner = world.owner()

    def attempt(password: str):
        body = ({"new_phone": random_phone(), "password": password} if route == "/me/phone"
                else {"old_password": password, "new_password": "a fresh long passphrase"})
        return api.post(route, body, token=owner.token)

    assert [attempt(WRONG).code for _ in range(5)] == ["invalid_credentials"] * 5
    refused = attempt(owner.password)  # the right password, once the guesses are spent
    assert refused.status == 423 and refused.code == "account_locked"
    assert refused.body["details"]["retry_after"] == 900
    assert api.get("/me", token=owner.token).body["phone"] == owner.phone
    # the same lock as sign-in
    assert login_reply(api, owner.account, owner.password).status == 423
    actions = [e.action for e in AuditEventModel.query(owner.user_id)]
    assert actions.count("reauth.failed") == 5 and "account.locked" in actions


def test_a_right_reauthentication_resets_the_failures(api, world):
    owner = world.owner()
    for _ in range(4):
        api.post("/me/phone", {"new_phone": random_phone(), "password": WRONG}, token=owner.token)
    assert api.post("/me/phone", {"new_phone": random_phone(), "password": owner.password},
                    token=owner.token).status == 202
    assert login_reply(api, owner.account, WRONG).code == "invalid_credentials"
    assert login_reply(api, owner.account, owner.password).body["status"] == "mfa_required"


# -- 9. concurrency ------------------------------------------------------------------------------------------


class _ReadGate:
    """Wraps a port so that every racing request has read its state before any goes on (the widest race);
    a thread named in `held` then also waits for `release` before going on."""

    def __init__(self, inner, method: str, parties: int):
        self._inner = inner
        self._method = method
        self.barrier = threading.Barrier(parties, timeout=60)
        self.held: set[int] = set()
        self.release = threading.Event()

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def gated(*args, **kwargs):
            result = attr(*args, **kwargs)
            self.barrier.wait()
            if threading.get_ident() in self.held:
                self.release.wait(60)
            return result

        return gated


def test_concurrent_wrong_passwords_are_checked_at_most_five_times(api, world):
    owner = world.owner()
    gate = _ReadGate(deps.accounts(), "get_by_login", 20)
    with deps.rebuilt("auth_service", accounts=gate) as service:
        captchas = [service.new_captcha().captcha_id for _ in range(20)]  # a solved captcha each: only the lock

        def guess(captcha_id: str) -> str:
            return _outcome(lambda: service.login(owner.account, WRONG, "10.9.9.9", captcha_id=captcha_id,
                                                  captcha_answer=CAPTCHA))

        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(guess, captchas))
    assert outcomes.count("invalid_credentials") <= 5
    assert outcomes.count("invalid_credentials") + outcomes.count("account_locked") == 20
    # the right password after the batch: locked
    late = login_reply(api, owner.account, owner.password, **_captcha(api))
    assert late.status == 423 and late.code == "account_locked"


def _code_challenge(api, owner, purpose: str) -> tuple[str, str, object]:
    """A live challenge of `purpose` with a code texted: (challenge id, code, the service call that checks one)."""
    def service():
        return deps.auth_service()  # looked up at each check: the test may rebuild it

    if purpose == "login":
        body = login_reply(api, owner.account, owner.password).body
        assert api.post("/auth/sms", {"challenge_id": body["challenge_id"]}).status == 202
        challenge_id, hint = body["challenge_id"], body["phone_hint"]
        return challenge_id, latest_code(hint), lambda code: service().verify(challenge_id, "sms", code)
    if purpose == "reset":
        body = api.post("/auth/password/reset", {"account": owner.account, **_captcha(api)}).body
        challenge_id = body["challenge_id"]
        return (challenge_id, latest_code(body["phone_hint"]),
                lambda code: service().confirm_reset(challenge_id, code, "a brand new passphrase"))
    new_phone = random_phone()
    body = api.post("/me/phone", {"new_phone": new_phone, "password": owner.password}, token=owner.token).body
    caller = deps.session_service().authenticate(owner.token)
    challenge_id = body["challenge_id"]
    return (challenge_id, latest_code(f"+86 {new_phone[3:6]}****{new_phone[-4:]}"),
            lambda code: service().confirm_phone_change(caller, challenge_id, code))


@pytest.mark.parametrize("purpose", ["login", "reset", "phone_change"])
def test_concurrent_codes_never_check_more_than_five(api, world, purpose):
    owner = world.owner()
    _, code, check = _code_challenge(api, owner, purpose)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 10)]
    gate = _ReadGate(deps.challenge_store(), "get", 10)

    def attempt(candidate: str) -> str:
        return _outcome(lambda: check(candidate))

    def attempt_last(candidate: str) -> str:
        # reads the challenge with the others, but is compared only after the nine wrong codes
        gate.held.add(threading.get_ident())
        return attempt(candidate)

    with deps.rebuilt("auth_service", challenge_store=gate), ThreadPoolExecutor(10) as pool:
        right = pool.submit(attempt_last, code)
        results = [f.result() for f in [pool.submit(attempt, c) for c in wrong]]
        gate.release.set()
        right_result = right.result()
    assert results.count("invalid_code") <= 4
    assert right_result == "challenge_expired"


# -- 10. enumeration -----------------------------------------------------------------------------------------


def test_an_unknown_name_locks_exactly_like_a_real_account(api, world, frozen):
    owner = world.owner()
    ghost = random_account("ghost")
    assert _fail_five_times(api, owner.account) == _fail_five_times(api, ghost) == ["invalid_credentials"] * 5
    real, unknown = login_reply(api, owner.account, owner.password), login_reply(api, ghost, "anything at all")
    assert real.status == unknown.status == 423
    assert real.body == unknown.body and real.body["details"]["retry_after"] == 900


def test_failed_logins_of_real_and_unknown_accounts_do_the_same_work(api, world, monkeypatch):
    """Timing tells existence when the two paths differ: the same DynamoDB calls and the same argon2 work."""
    from pynamodb.connection.base import Connection

    from chalicelib.domain import passwords

    owner = world.owner()
    calls: list[str] = []
    hashes: list[str] = []
    original_dispatch, original_verify = Connection.dispatch, passwords.verify_password

    def dispatch(self, operation_name, operation_kwargs):
        calls.append(operation_name)
        return original_dispatch(self, operation_name, operation_kwargs)

    def verify(stored_hash, password):
        hashes.append(stored_hash.rsplit("$", 2)[0])  # algorithm, version and cost parameters
        return original_verify(stored_hash, password)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    monkeypatch.setattr(passwords, "verify_password", verify)

    def work(login: str) -> tuple[list[str], list[str]]:
        calls.clear()
        hashes.clear()
        assert login_reply(api, login, WRONG).code == "invalid_credentials"
        return sorted(calls), list(hashes)

    real, unknown = work(owner.account), work(random_account("ghost"))
    assert real == unknown and len(real[1]) == 1


def _reset(api, login: str):
    return api.post("/auth/password/reset", {"account": login, **_captcha(api)})


def test_resets_of_real_and_unknown_accounts_hit_the_same_limits(api, world, frozen):
    owner = world.owner()
    ghost = random_account("ghost")
    real = [_reset(api, owner.account) for _ in range(6)]
    unknown = [_reset(api, ghost) for _ in range(6)]
    assert [r.status for r in real] == [r.status for r in unknown] == [202] * 3 + [429] * 3
    assert ([r.body["details"]["retry_after"] for r in real[3:]]
            == [r.body["details"]["retry_after"] for r in unknown[3:]])
    assert set(real[0].body) == set(unknown[0].body)


def test_reset_spam_cannot_use_up_the_owners_sign_in_codes(api, world):
    owner = world.owner()
    for _ in range(12):
        if _reset(api, owner.account).status == 429:
            break
    body = login_reply(api, owner.account, owner.password).body
    before = len(sms_inbox(owner.phone))
    sent = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert sent.status == 202
    assert len(sms_inbox(owner.phone)) == before + 1


# -- TOTP outside a challenge ----------------------------------------------------------------------------------


def test_authenticator_codes_cannot_be_guessed_with_a_stolen_token(api, world):
    import pyotp

    owner = world.owner()
    secret = api.post("/auth/totp/setup", token=owner.token).body["secret"]
    assert api.post("/auth/totp/activate", {"code": pyotp.TOTP(secret).now()}, token=owner.token).status == 204
    right = pyotp.TOTP(secret).now()
    guesses = [f"{(int(right) + n) % 10**6:06d}" for n in range(1, 7)]
    statuses = [api.call("DELETE", "/auth/totp", {"code": g}, token=owner.token).status for g in guesses]
    assert statuses == [401] * 5 + [429]


# -- 16. a failed text costs nothing ---------------------------------------------------------------------------


def test_an_sms_failure_charges_nothing_and_a_retry_sends(api, world, monkeypatch):
    owner = world.owner()
    body = login_reply(api, owner.account, owner.password).body
    sms = deps.sms()
    real_send = sms.send
    failures = []

    def send_once_failing(phone: str, text: str) -> str:
        if not failures:
            failures.append(phone)
            raise ConnectionError("SNS is unreachable")
        return real_send(phone, text)

    monkeypatch.setattr(sms, "send", send_once_failing)
    before = len(sms_inbox(owner.phone))
    failed = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert failed.status == 503 and failed.code == "sms_unavailable"
    retried = api.post("/auth/sms", {"challenge_id": body["challenge_id"]})
    assert retried.status == 202
    assert len(sms_inbox(owner.phone)) == before + 1
    code = latest_code(body["phone_hint"])
    assert api.post("/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms",
                                     "code": code}).status == 200


def test_an_sms_failure_during_a_reset_answers_like_an_unknown_account(api, world, monkeypatch):
    owner = world.owner()
    sms = deps.sms()

    def unreachable(phone: str, text: str) -> str:
        raise ConnectionError("SNS is unreachable")

    monkeypatch.setattr(sms, "send", unreachable)
    before = len(sms_inbox(owner.phone))
    real = api.post("/auth/password/reset", {"account": owner.account, **_captcha(api)})
    unknown = api.post("/auth/password/reset", {"account": random_account("ghost"), **_captcha(api)})
    assert real.status == unknown.status == 202
    monkeypatch.undo()
    # nothing was charged: the owner asks for the text again at once and gets it
    assert api.post("/auth/sms", {"challenge_id": real.body["challenge_id"]}).status == 202
    assert len(sms_inbox(owner.phone)) == before + 1
