from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from chalicelib.domain.model import Account
from chalicelib.domain.sessions import SessionService
from chalicelib.errors import Unauthenticated
from tests.unit.fakes import FakeSessions, UtcClock, signer

KEYS = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"k" * 32).decode()}})




def account(**overrides) -> Account:
    fields = dict(user_id="u_1", account="alice", name="Alice", phone="+8613800138000", role="owner",
                  password_hash="x", created_at="2026-11-25T06:00:00Z")
    fields.update(overrides)
    return Account(**fields)


@pytest.fixture
def clock():
    return UtcClock()


@pytest.fixture
def repo():
    return FakeSessions()


@pytest.fixture
def service(repo, clock):
    return SessionService(repo, signer(KEYS), clock)


def test_authenticate_returns_the_principal_of_a_live_session(service):
    tokens = service.start(account(must_change_password=True))
    principal = service.authenticate(tokens.access_token)
    assert principal.user_id == "u_1" and principal.role == "owner" and principal.must_change_password


def test_authenticate_refuses_a_revoked_session_immediately(service):
    tokens = service.start(account())
    service.end(tokens.session_id)
    with pytest.raises(Unauthenticated):
        service.authenticate(tokens.access_token)


def test_access_token_lives_15_minutes_and_names_its_key(service):
    tokens = service.start(account())
    assert jwt.get_unverified_header(tokens.access_token)["kid"] == "k1"
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize("forge", ["alg_none", "other_key", "tampered", "expired", "no_kid", "refresh_as_access"])
def test_authenticate_refuses_forged_tokens(service, forge):
    tokens = service.start(account())
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    if forge == "alg_none":
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    elif forge == "other_key":
        token = jwt.encode(claims, b"z" * 32, algorithm="HS256", headers={"kid": "k1"})
    elif forge == "tampered":
        head, body, sig = tokens.access_token.split(".")
        claims["role"] = "admin"
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token = f"{head}.{body}.{sig}"
    elif forge == "expired":
        claims.update(iat=claims["iat"] - 2000, exp=claims["iat"] - 1000)
        token = jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": "k1"})
    elif forge == "no_kid":
        token = jwt.encode(claims, b"k" * 32, algorithm="HS256")
    else:
        token = tokens.refresh_token
    with pytest.raises(Unauthenticated):
        service.authenticate(token)


def test_refresh_rotates_the_token(service):
    first = service.start(account())
    second, user_id = service.refresh(first.refresh_token)
    assert user_id == "u_1" and second.refresh_token != first.refresh_token
    service.authenticate(second.access_token)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(service):
    # given: a refresh token that has been rotated once
    first = service.start(account())
    second, _ = service.refresh(first.refresh_token)
    # when: the old one comes back (stolen copy)
    with pytest.raises(Unauthenticated):
        service.refresh(first.refresh_token)
    # then: every token of the session is dead
    with pytest.raises(Unauthenticated):
        service.refresh(second.refresh_token)
    with pytest.raises(Unauthenticated):
        service.authenticate(second.access_token)


@pytest.mark.parametrize("token", ["", "nodot", "s_unknown.secret", "." * 300])
def test_refresh_refuses_malformed_or_unknown_tokens(service, token):
    with pytest.raises(Unauthenticated):
        service.refresh(token)


def test_sessions_expire_after_30_days(service, clock):
    tokens = service.start(account())
    clock.now += timedelta(days=31)
    with pytest.raises(Unauthenticated):
        service.refresh(tokens.refresh_token)


def test_end_all_keeps_only_the_current_session(service, repo):
    keep = service.start(account())
    other = service.start(account())
    assert service.end_all("u_1", keep=keep.session_id) == 1
    service.authenticate(keep.access_token)
    with pytest.raises(Unauthenticated):
        service.authenticate(other.access_token)
