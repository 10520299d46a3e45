"""Conditional writes survive botocore retrying an attempt that DynamoDB had applied but whose answer was lost
(a read timeout or a reset connection under load): the caller sees its success, and exactly one item is stored."""

from __future__ import annotations

import pytest

from tests.integration.helpers import answers_lost, model_answers_lost


def test_a_captcha_whose_answer_was_lost_is_still_served_and_stored_once(api):
    from chalicelib.adapters.dynamo.auth import CaptchaModel

    before = CaptchaModel.count()
    with model_answers_lost(CaptchaModel, "PutItem") as lost:
        reply = api.get("/auth/captcha")
    assert lost["answers"] == 1
    assert reply.status == 200, reply.body
    assert CaptchaModel.count() == before + 1
    # and the captcha still works once
    with model_answers_lost(CaptchaModel, "UpdateItem") as lost:
        from chalicelib.adapters.dynamo.auth import DynamoCaptchas

        captchas = DynamoCaptchas()
        assert captchas.consume(reply.body["captcha_id"]) is not None
        assert captchas.consume(reply.body["captcha_id"]) is None
    assert lost["answers"] == 1


def test_a_community_and_a_repair_whose_answers_were_lost_are_created_once(api, world):
    from chalicelib.adapters.dynamo.models import CommunityModel
    from chalicelib.adapters.dynamo.repairs import RepairModel

    owner = world.owner()
    before = CommunityModel.count()
    with model_answers_lost(CommunityModel, "PutItem") as lost:
        created = api.post("/staff/communities", {"name": "重试小区", "address": "上海市重试路2号"},
                           token=world.admin)
    assert lost["answers"] == 1
    assert created.status == 201, created.body
    assert CommunityModel.count() == before + 1
    with model_answers_lost(RepairModel, "PutItem") as lost:
        repair = api.post("/repairs", {"unit_id": world.unit_ids[0], "kind": "repair", "category": "plumbing",
                                       "location": "厨房", "description": "水龙头漏水"}, token=owner.token)
    assert lost["answers"] == 1
    assert repair.status == 201, repair.body
    listed = api.get("/repairs", token=owner.token).body["items"]
    assert [r["repair_id"] for r in listed] == [repair.body["repair_id"]]


def test_a_lost_answer_does_not_hide_a_real_conflict(api):
    from chalicelib.adapters.dynamo.notices import DynamoSentLog, NoticeSmsSentModel

    # two senders claim the same owner's text of one notice, each losing its answer: the first claim is
    # still the first sender's, the second sender still loses (one text)
    log = DynamoSentLog()
    with model_answers_lost(NoticeSmsSentModel, "PutItem") as lost:
        first = log.claim("n_retry_conflict", "u_retry_conflict", "2026-11-01T00:00:00Z")
        second = log.claim("n_retry_conflict", "u_retry_conflict", "2026-11-01T00:00:00Z")
    assert (first, second) == (True, False)
    assert lost["answers"] == 1


@pytest.fixture
def client_request_tokens(monkeypatch):
    """DynamoDB's documented TransactWriteItems idempotency, which moto lacks: a repeat of a call whose
    ClientRequestToken already succeeded returns success and changes nothing (botocore fills the token in once
    per call, so its retries repeat it)."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    answered: dict[str, object] = {}

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if token in answered:
            return answered[token]
        answer = original(self)
        if token:
            answered[token] = answer
        return answer

    monkeypatch.setattr(DynamoHandler, "transact_write_items", transact_write_items)


def test_transactional_creates_are_retried_with_their_client_request_token(world, client_request_tokens):
    from chalicelib.adapters.dynamo.repositories import connection

    api = world.api
    with answers_lost(connection().client, "TransactWriteItems") as lost:
        reply = api.post("/staff/units", {"community_id": world.community_id, "building_id": world.building_ids[1],
                                          "unit_no": "202", "floor": 2, "area_m2": 90.5, "layout": "3室2厅1卫"},
                         token=world.admin)
    assert lost["answers"] == 1
    assert reply.status == 201, reply.body
    units = api.get(f"/staff/units?community_id={world.community_id}&limit=100", token=world.admin).body["items"]
    assert [u["unit_no"] for u in units].count("202") == 1
