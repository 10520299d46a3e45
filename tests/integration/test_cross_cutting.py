"""Fail-closed authentication over every route, hidden internals, redacted logs, sessions over HTTP."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.api import routing
from tests.integration.helpers import complete_mfa, latest_code, login, login_reply, login_tokens


def _all_routes():
    from app import app

    for path, methods in app.routes.items():
        for method in methods:
            yield path, method


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_placeholder", path)


def test_every_route_not_declared_public_refuses_requests_without_a_valid_token(api):
    public = routing.public_routes()
    checked = 0
    for path, method in _all_routes():
        if (path, method) in public:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46eA=="}):
            reply = api.call(method, _concrete(path), body={}, headers=headers)
            assert reply.status == 401, (method, path, headers, reply.body)
            assert reply.code == "unauthenticated"
        checked += 1
    assert checked >= 5


def test_public_routes_are_exactly_the_ones_api_md_marks_public():
    allowed = {"/health", "/openapi.json", "/auth/captcha", "/auth/login", "/auth/sms", "/auth/verify", "/auth/refresh",
               "/auth/password/reset", "/auth/password/reset/confirm", "/payments/callbacks/{provider}",
               "/receipts/{receipt_no}/verify"}
    assert {path for path, _ in routing.public_routes()} <= allowed


def test_an_exception_inside_a_view_answers_500_without_internals(api, admin_token, monkeypatch, capsys):
    from chalicelib import deps

    class Exploding:
        def profile(self, caller):
            raise RuntimeError("secret internal detail /var/task/chalicelib")

    with deps.override(directory=lambda: Exploding()):
        reply = api.get("/me", token=admin_token)
    assert reply.status == 500
    assert reply.body == {"code": "internal_error", "message": "Something went wrong on our side."}
    assert b"secret internal detail" not in reply.raw and b"Traceback" not in reply.raw
    assert reply.headers["x-request-id"]


@pytest.fixture
def log_lines():
    """Everything the app's Powertools logger writes, through its real (redacting) formatter."""
    import io

    from chalicelib.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)


def test_logs_of_a_full_login_never_contain_secrets_or_phone_numbers(api, world, log_lines):
    # given an owner (their password and phone are known to the test)
    owner = world.owner()
    log_lines.truncate(0)
    # when they sign in with a texted code, use the API, refresh and fail once
    challenge = login_reply(api, owner.account, owner.password).body
    reply = complete_mfa(api, challenge)
    code = latest_code(challenge["phone_hint"])
    access, refresh = reply.body["access_token"], reply.body["refresh_token"]
    api.get("/me", token=access)
    api.post("/auth/refresh", {"refresh_token": refresh})
    login_reply(api, owner.phone, "wrong-password-123")
    api.post("/auth/password", {"old_password": owner.password, "new_password": owner.password + "x"}, token=access)
    logs = log_lines.getvalue()
    # then logs were written, but none of the secrets
    assert logs.count('"message":"request"') >= 5
    for secret in (owner.password, owner.phone, owner.phone[3:], access, refresh, refresh.split(".")[1], code,
                   reply.body["device_token"]):
        assert secret not in logs


def test_logout_revokes_the_access_token_at_once(api, world):
    owner = world.owner()
    token = login(api, owner.account, owner.password)
    assert api.post("/auth/logout", token=token).status == 204
    reply = api.get("/me", token=token)
    assert reply.status == 401


def test_refresh_rotates_and_reuse_kills_the_session(api, world):
    owner = world.owner()
    first = login_tokens(api, owner.account, owner.password)
    second = api.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status == 200 and second.body["refresh_token"] != first["refresh_token"]
    assert second.body["token_type"] == "Bearer" and second.body["expires_in"] == 900
    reuse = api.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert reuse.status == 401 and reuse.code == "unauthenticated"
    assert api.get("/me", token=second.body["access_token"]).status == 401
    assert api.post("/auth/refresh", {"refresh_token": second.body["refresh_token"]}).status == 401


def test_password_change_ends_every_other_session(api, world):
    owner = world.owner()
    phone_session = login(api, owner.account, owner.password)
    laptop_session = login(api, owner.account, owner.password)
    changed = api.post("/auth/password", {"old_password": owner.password, "new_password": "another fine phrase"},
                       token=laptop_session)
    assert changed.status == 204
    assert api.get("/me", token=phone_session).status == 401
    assert api.get("/me", token=laptop_session).status == 200


def test_wrong_password_and_unknown_account_answer_identically(api, world):
    owner = world.owner()
    wrong = login_reply(api, owner.account, "not-the-password")
    unknown = login_reply(api, "nobody-at-all", "not-the-password")
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body and wrong.code == "invalid_credentials"


@pytest.mark.parametrize("body", [{"account": "x"}, {"account": "x", "password": 5}, {"password": "x" * 2000}])
def test_login_validates_its_body(api, body):
    reply = api.post("/auth/login", body)
    assert reply.status == 400 and reply.code == "validation_error"


def test_weak_new_password_is_refused_with_a_reason(api, world):
    owner = world.owner()
    reply = api.post("/auth/password", {"old_password": owner.password, "new_password": "password123"},
                     token=owner.token)
    assert reply.status == 400 and reply.code == "weak_password" and reply.body["details"]["reason"]


def test_response_bodies_are_json_with_utf8(api, world):
    me = api.get("/me", token=world.staff.token)
    assert json.loads(me.raw)["role"] == "staff"
