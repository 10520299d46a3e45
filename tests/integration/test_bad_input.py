"""Bad input across the routes: always a 400 `validation_error` naming the field (or the 404 API.md asks for),
never a 500, and nothing changed (API.md §1)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.integration.helpers import make_world, random_account

DEEP = 10_000  # 20 KB of brackets: well inside the 64 KiB limit, far beyond any parser's stack


def _nested(depth: int = DEEP) -> bytes:
    return b"[" * depth + b"]" * depth


def _raw(document: dict) -> bytes:
    # json.dumps writes a lone surrogate as the escape `\ud800`, exactly what a hostile client would send.
    return json.dumps(document).encode()


def _fields(reply) -> dict:
    assert reply.status == 400 and reply.code == "validation_error", (reply.status, reply.body)
    return reply.body.get("details", {}).get("fields", {})


@pytest.fixture(scope="module")
def place(api, admin):
    """One community and one owner for the whole module: every case here must leave them unchanged."""
    world = make_world(api, admin)
    world.owner()
    return world


def _messages(api, owner) -> list:
    return api.get("/messages", token=owner.token).body["items"]


# -- nesting --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    _nested(),
    b'{"account": ' + _nested() + b', "password": "x"}',
    b'{"account": "a", "password": "x", "captcha_id": {"a": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001 + b"}",
])
def test_bad_input_deeply_nested_json_on_a_public_route_is_a_400(api, raw):
    reply = api.call("POST", "/auth/login", raw=raw)
    assert reply.status == 400 and reply.code == "validation_error", reply.body
    assert reply.body["details"] == {"max_depth": 32}


def test_bad_input_deeply_nested_json_on_a_signed_callback_is_a_400(api):
    raw = b'{"payment_id": "pay_x", "provider_txn_id": "t", "amount_cents": 1, "status": "succeeded", "x": ' \
          + _nested() + b"}"
    signature = hmac.new(b"local-sandbox-secret", raw, hashlib.sha256).hexdigest()
    reply = api.call("POST", "/payments/callbacks/sandbox", raw=raw, headers={"X-Sandbox-Signature": signature})
    assert reply.status == 400 and reply.code == "validation_error", reply.body


def test_bad_input_nesting_inside_strings_is_only_text(api, place):
    # Brackets inside a string are not nesting: the message is stored as written.
    owner = place.owners[0]
    text = "[" * 100 + "{" * 100
    reply = api.post("/messages", {"category": "question", "subject": "括号", "body": text}, token=owner.token)
    assert reply.status == 201 and reply.body["body"] == text


def test_bad_input_deeply_nested_json_on_an_owner_route_changes_nothing(api, place):
    owner = place.owners[0]
    before = _messages(api, owner)
    raw = b'{"category": "question", "subject": "s", "body": "b", "unit_id": ' + _nested() + b"}"
    reply = api.call("POST", "/messages", raw=raw, headers={"Authorization": f"Bearer {owner.token}"})
    assert reply.status == 400 and reply.code == "validation_error"
    assert _messages(api, owner) == before


# -- unpaired surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "field"), [
    ({"category": "question", "subject": "\ud800", "body": "正文"}, "subject"),
    ({"category": "question", "subject": "主题", "body": "正文\udc00正文"}, "body"),
    ({"category": "question", "subject": "主题", "body": "正文", "\ud800": 1}, "\\ud800"),
])
def test_bad_input_unpaired_surrogate_is_refused_naming_the_field(api, place, document, field):
    owner = place.owners[0]
    before = _messages(api, owner)
    reply = api.call("POST", "/messages", raw=_raw(document), headers={"Authorization": f"Bearer {owner.token}"})
    assert field in _fields(reply)
    assert _messages(api, owner) == before


def test_bad_input_unpaired_surrogate_in_tags_or_login_is_a_400(api, place):
    owner = place.owners[0]
    tags = api.call("PATCH", "/me", raw=_raw({"tags": ["\ud83d"]}), headers={"Authorization": f"Bearer {owner.token}"})
    assert "tags[0]" in _fields(tags)
    login = api.call("POST", "/auth/login", raw=_raw({"account": owner.account, "password": "\udfff"}))
    assert "password" in _fields(login)
    assert api.get("/me", token=owner.token).body["tags"] == []


# -- ASCII digits only ----------------------------------------------------------------------------


def test_bad_input_full_width_period_does_not_bill_a_period_twice(api, place):
    runs = [api.post("/staff/billing-runs", {"community_id": place.community_id, "period": period},
                     token=place.staff.token) for period in ("２０２６-10", "2026-1０", "٢٠٢٦-10")]
    for reply in runs:
        assert set(_fields(reply)) == {"period"}
    listed = api.get(f"/staff/bills?community_id={place.community_id}&period=２０２６-10", token=place.staff.token)
    assert "period" in _fields(listed)


@pytest.mark.parametrize("phone", ["+86１３８００１３８０００", "+8613８00138000", "+86 13800138000",
                                   "+8613800138000\n"])
def test_bad_input_non_ascii_phone_digits_are_refused(api, place, phone):
    reply = api.post("/staff/owners", {"name": "王五", "phone": phone, "account": random_account("fw"),
                                       "unit_ids": [place.unit_ids[0]]}, token=place.admin)
    assert set(_fields(reply)) == {"phone"}


@pytest.mark.parametrize(("path", "document", "field"), [
    ("/staff/meter-readings", lambda p: {"unit_id": p.unit_ids[0], "kind": "water", "period": "2026-10",
                                         "reading": "１２.５"}, "reading"),
    ("/staff/meter-readings", lambda p: {"unit_id": p.unit_ids[0], "kind": "water", "period": "2026-10",
                                         "reading": "1_000"}, "reading"),
    ("/staff/units", lambda p: {"community_id": p.community_id, "building_id": p.building_ids[0], "unit_no": "301",
                                "floor": 3, "area_m2": "８９.５６", "layout": "两室"}, "area_m2"),
    ("/staff/bills", lambda p: {"unit_id": p.unit_ids[0], "type": "parking", "period": "2026-10",
                                "due_date": "２０２６-11-01",
                                "items": [{"code": "p", "name": "车位", "unit_price_cents": 100}]}, "due_date"),
    ("/staff/events", lambda p: {"community_id": p.community_id, "title": "活动", "description": "说明",
                                 "location": "会所", "capacity": 10, "starts_at": "２０２６-12-01T02:00:00Z",
                                 "ends_at": "2026-12-01T04:00:00Z"}, "starts_at"),
])
def test_bad_input_non_ascii_numbers_and_dates_are_refused(api, place, path, document, field):
    reply = api.post(path, document(place), token=place.admin)
    assert field in _fields(reply), reply.body


def test_bad_input_non_ascii_codes_and_limits_are_refused(api, place):
    owner = place.owners[0]
    assert "limit" in _fields(api.get("/notices?limit=１０", token=owner.token))
    verify = api.post("/auth/verify", {"challenge_id": "ch_x", "method": "sms", "code": "１２３４５６"})
    assert "code" in _fields(verify)
    assert "challenge_id" in _fields(api.post("/auth/sms", {"challenge_id": "ch_１"}))
    assert api.get("/messages?cursor=ｘｘ.ｙｙ", token=owner.token).code == "invalid_cursor"


# -- control characters ---------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "field", "problem"), [
    ({"subject": "主题\x01", "body": "正文"}, "subject", None),
    ({"subject": "两行\n主题", "body": "正文"}, "subject", None),
    ({"subject": "主题", "body": "正文\x00"}, "body", None),
    ({"subject": "\x7f\x85\x9f", "body": "正文"}, "subject", "is required"),
    ({"subject": "主题", "body": " \x80 \x7f "}, "body", "is required"),
])
def test_bad_input_control_characters_are_refused_or_leave_nothing(api, place, document, field, problem):
    owner = place.owners[0]
    before = _messages(api, owner)
    fields = _fields(api.post("/messages", {"category": "question", **document}, token=owner.token))
    assert field in fields and (problem is None or fields[field] == problem)
    assert _messages(api, owner) == before


def test_bad_input_multi_line_text_keeps_line_breaks_and_drops_invisible_controls(api, place):
    owner = place.owners[0]
    reply = api.post("/messages", {"category": "question", "subject": "停车\x7f位", "body": "第一行\r\n第二行\t完"},
                     token=owner.token)
    assert reply.status == 201, reply.body
    assert reply.body["subject"] == "停车位" and reply.body["body"] == "第一行\r\n第二行\t完"


# -- PATCH /me nulls ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["tags", "notification_prefs"])
def test_bad_input_null_for_a_field_that_cannot_be_cleared_is_a_400(api, place, field):
    owner = place.owners[0]
    assert api.patch("/me", {"tags": ["pet_owner"], "notification_prefs": {"sms_notices": False}},
                     token=owner.token).status == 200
    reply = api.patch("/me", {field: None, "email": "x@example.com"}, token=owner.token)
    assert _fields(reply) == {field: "must not be null"}
    me = api.get("/me", token=owner.token).body
    assert me["tags"] == ["pet_owner"] and me["notification_prefs"]["sms_notices"] is False
    assert me["email"] != "x@example.com"


def test_bad_input_null_email_clears_the_email(api, place):
    owner = place.owners[0]
    assert api.patch("/me", {"email": "li@example.com"}, token=owner.token).body["email"] == "li@example.com"
    cleared = api.patch("/me", {"email": None}, token=owner.token)
    assert cleared.status == 200 and cleared.body["email"] is None
    assert api.get("/me", token=owner.token).body["email"] is None


# -- the public receipt check ---------------------------------------------------------------------


@pytest.mark.parametrize("query", ["?code=", "", "?code=%20", "?code=" + "A" * 65, "?code=ＡＢＣ", "?code=AB%00C",
                                   "?code=ABC&utm_source=qr"])
def test_bad_input_receipt_check_answers_404_for_anything_but_a_genuine_code(api, query):
    reply = api.get(f"/receipts/R202610010000000001/verify{query}")
    assert reply.status == 404 and reply.code == "not_found", reply.body
