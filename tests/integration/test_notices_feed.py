"""Notices (API.md §8): audiences, the owner's feed, scheduling, expiry, withdrawal, read state, urgent SMS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import deps


def _at(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_tags(user_id: str, tags: set[str]) -> None:
    from chalicelib.adapters.dynamo.models import AccountModel

    AccountModel(user_id).update(actions=[AccountModel.tags.set(tags or None)])


def opt_out_of_sms(user_id: str) -> None:
    from chalicelib.adapters.dynamo.models import AccountModel

    AccountModel(user_id).update(actions=[AccountModel.notification_prefs.set({"sms_notices": False})])


def publish(world, title: str, **fields) -> dict:
    body = {"community_id": world.community_id, "title": title, "body": "正文" + title, "category": "general",
            **fields}
    reply = world.api.post("/staff/notices", body, token=world.staff.token)
    assert reply.status == 201, reply.body
    return reply.body


def titles(world, owner, query: str = "") -> list[str]:
    reply = world.api.get(f"/notices{query}", token=owner.token)
    assert reply.status == 200, reply.body
    return [n["title"] for n in reply.body["items"]]


@pytest.fixture
def later(monkeypatch):
    """Move the notices' clock forward (time passing), without sleeping."""

    def move(delta: timedelta) -> None:
        service = deps.notice_service()
        monkeypatch.setattr(service, "_clock", lambda: datetime.now(UTC) + delta)

    return move


def test_feed_targeting_matrix_of_buildings_and_tags(world):
    # given owners in building 0 or 1, with or without tags
    b0, b1 = world.building_ids
    a = world.owner([world.unit_ids[0]])                     # building 0, no tags
    b = world.owner([world.unit_ids[2]])                     # building 1, pet_owner
    c = world.owner([world.unit_ids[2]])                     # building 1, no tags
    d = world.owner([world.unit_ids[1]])                     # building 0, elderly
    set_tags(b.user_id, {"pet_owner"})
    set_tags(d.user_id, {"elderly"})
    # when notices go to various audiences
    publish(world, "all")
    publish(world, "b0", audience={"building_ids": [b0]})
    publish(world, "pets", audience={"tags": ["pet_owner"]})
    publish(world, "b0-or-pets", audience={"building_ids": [b0], "tags": ["pet_owner"]})
    publish(world, "b1-or-elderly", audience={"building_ids": [b1], "tags": ["elderly"]})
    # then each owner sees exactly what addresses them (buildings OR tags), newest first, once each
    assert titles(world, a) == ["b0-or-pets", "b0", "all"]
    assert titles(world, b) == ["b1-or-elderly", "b0-or-pets", "pets", "all"]
    assert titles(world, c) == ["b1-or-elderly", "all"]
    assert titles(world, d) == ["b1-or-elderly", "b0-or-pets", "b0", "all"]


def test_feed_category_filter_and_pagination(world):
    owner = world.owner()
    for i in range(5):
        publish(world, f"n{i}", category="outage" if i % 2 else "news")
    assert titles(world, owner, "?category=outage") == ["n3", "n1"]
    first = world.api.get("/notices?limit=2", token=owner.token).body
    second = world.api.get(f"/notices?limit=2&cursor={first['next_cursor']}", token=owner.token).body
    third = world.api.get(f"/notices?limit=2&cursor={second['next_cursor']}", token=owner.token).body
    assert [n["title"] for n in first["items"] + second["items"] + third["items"]] == ["n4", "n3", "n2", "n1", "n0"]
    assert third["next_cursor"] is None
    other = world.owner()
    foreign = world.api.get(f"/notices?cursor={first['next_cursor']}", token=other.token)
    assert foreign.status == 400 and foreign.code == "invalid_cursor"


def test_notices_of_another_community_are_invisible(world, api, admin_token):
    from tests.integration.helpers import make_world

    owner = world.owner()
    other_world = make_world(api, admin_token)
    foreign = publish(other_world, "elsewhere")
    assert titles(world, owner) == []
    assert api.get(f"/notices/{foreign['notice_id']}", token=owner.token).status == 404
    assert api.post(f"/notices/{foreign['notice_id']}/read", token=owner.token).status == 404
    # and staff of one community can neither publish nor withdraw in another
    denied = api.post("/staff/notices", {"community_id": other_world.community_id, "title": "x", "body": "y",
                                         "category": "news"}, token=world.staff.token)
    assert denied.status == 404
    assert api.delete(f"/staff/notices/{foreign['notice_id']}", token=world.staff.token).status == 404


def test_withdrawn_notice_disappears_and_cannot_be_withdrawn_twice(world):
    owner = world.owner()
    notice = publish(world, "oops")
    assert titles(world, owner) == ["oops"]
    assert world.api.delete(f"/staff/notices/{notice['notice_id']}", token=world.staff.token).status == 204
    assert titles(world, owner) == []
    assert world.api.get(f"/notices/{notice['notice_id']}", token=owner.token).status == 404
    assert world.api.delete(f"/staff/notices/{notice['notice_id']}", token=world.staff.token).status == 404


def test_scheduled_notice_is_hidden_until_due_and_expired_notice_disappears(world, later):
    owner = world.owner()
    scheduled = publish(world, "tomorrow", publish_at=_at(timedelta(hours=1)))
    expiring = publish(world, "today only", expires_at=_at(timedelta(hours=1)))
    assert titles(world, owner) == ["today only"]
    assert world.api.get(f"/notices/{scheduled['notice_id']}", token=owner.token).status == 404
    # when two hours pass
    later(timedelta(hours=2))
    assert titles(world, owner) == ["tomorrow"]
    assert world.api.get(f"/notices/{expiring['notice_id']}", token=owner.token).status == 404


def test_expiry_before_publication_is_refused(world):
    reply = world.api.post("/staff/notices", {"community_id": world.community_id, "title": "x", "body": "y",
                                              "category": "news", "publish_at": _at(timedelta(hours=2)),
                                              "expires_at": _at(timedelta(hours=1))}, token=world.staff.token)
    assert reply.status == 400 and "expires_at" in reply.body["details"]["fields"]
    unknown_tag = world.api.post("/staff/notices", {"community_id": world.community_id, "title": "x", "body": "y",
                                                    "category": "news", "audience": {"tags": ["vip"]}},
                                 token=world.staff.token)
    assert unknown_tag.status == 400


@pytest.mark.parametrize("audience", [{"tags": ["vip"]}, {"tags": "pet_owner"}, {"floors": [3]},
                                      {"building_ids": ["not an id"]}, ["b1"]])
def test_a_bad_audience_is_refused_and_publishes_nothing(world, audience):
    owner = world.owner()
    reply = world.api.post("/staff/notices", {"community_id": world.community_id, "title": "x", "body": "y",
                                              "category": "news", "audience": audience}, token=world.staff.token)
    assert reply.status == 400 and reply.code == "validation_error", reply.body
    assert any(name.startswith("audience") for name in reply.body["details"]["fields"]), reply.body
    assert titles(world, owner) == []


def test_read_state_is_per_owner(world):
    reader, other = world.owner(), world.owner()
    notice = publish(world, "read me")
    assert world.api.get("/notices", token=reader.token).body["items"][0]["read"] is False
    assert world.api.post(f"/notices/{notice['notice_id']}/read", token=reader.token).status == 204
    assert world.api.post(f"/notices/{notice['notice_id']}/read", token=reader.token).status == 204
    assert world.api.get("/notices", token=reader.token).body["items"][0]["read"] is True
    detail = world.api.get(f"/notices/{notice['notice_id']}", token=reader.token).body
    assert detail["read"] is True and detail["body"] == "正文read me"
    assert world.api.get("/notices", token=other.token).body["items"][0]["read"] is False


def test_unread_for_home_skips_read_notices(world):
    owner = world.owner()
    first, _second, third = (publish(world, t) for t in ("one", "two", "three"))
    world.api.post(f"/notices/{third['notice_id']}/read", token=owner.token)
    unread = deps.notice_service().unread(owner.user_id, 2)
    assert [n.title for n in unread] == ["two", "one"]
    assert first["notice_id"] == unread[1].notice_id


# -- urgent SMS -----------------------------------------------------------------------------------


def _sms() -> list[tuple[str, str]]:
    """Notice texts only (owners also receive their sign-in codes)."""
    from tests.integration.helpers import sms_messages

    return [(phone, text) for phone, text in sms_messages() if text.startswith("【物业通知】")]


def _drain_sms_queue(api) -> list[str]:
    from chalicelib.resources import NOTICE_SMS_QUEUE

    sqs = deps.aws_client("sqs")
    name = deps.get_settings().name(NOTICE_SMS_QUEUE)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])


def _deliver(api, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        event = api.client.events.generate_sqs_event(bodies[start:start + 10], queue_name="notice-sms")
        answer = api.client.lambda_.invoke("handle_notice_sms", event)
        assert answer.payload == {"batchItemFailures": []}


def test_urgent_notice_texts_each_owner_in_audience_once_under_retries(world, api):
    from chalicelib.events import jobs

    b0 = world.building_ids[0]
    texted = world.owner([world.unit_ids[0]])
    opted_out = world.owner([world.unit_ids[1]])
    outside = world.owner([world.unit_ids[2]])
    both_units = world.owner([world.unit_ids[0], world.unit_ids[1]])  # two units in the audience: one text
    opt_out_of_sms(opted_out.user_id)
    _drain_sms_queue(api)
    notice = publish(world, "停水通知", category="outage", urgency="urgent", send_sms=True,
                     audience={"building_ids": [b0]})
    # when the fan-out job runs twice (an SQS redelivery) and every queued message is delivered twice
    jobs.run("notice-sms", {"notice_id": notice["notice_id"]})
    jobs.run("notice-sms", {"notice_id": notice["notice_id"]})
    bodies = _drain_sms_queue(api)
    _deliver(api, bodies)
    _deliver(api, bodies)
    # then each owner in the audience got exactly one text, in Chinese with the title
    sent = _sms()
    assert [m for p, m in sent if p == texted.phone] == ["【物业通知】停水通知，详情请查看业主App。"]
    assert len([m for p, m in sent if p == both_units.phone]) == 1
    assert [m for p, m in sent if p in (opted_out.phone, outside.phone)] == []


def test_urgent_sms_job_is_queued_on_publish_and_not_for_normal_notices(world, api):
    from chalicelib.resources import JOBS_QUEUE

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=deps.get_settings().name(JOBS_QUEUE))["QueueUrl"]
    notice = publish(world, "电梯停运", urgency="urgent", send_sms=True, category="elevator")
    normal = publish(world, "普通", category="news")
    queued = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        queued += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])
    about = [q for q in queued if q["payload"].get("notice_id") in (notice["notice_id"], normal["notice_id"])]
    assert about == [{"kind": "notice-sms", "payload": {"notice_id": notice["notice_id"]}}]
    refused = world.api.post("/staff/notices", {"community_id": world.community_id, "title": "x", "body": "y",
                                                "category": "news", "send_sms": True}, token=world.staff.token)
    assert refused.status == 400


def test_withdrawn_urgent_notice_is_not_texted(world, api):
    from chalicelib.events import jobs

    owner = world.owner()
    notice = publish(world, "取消", urgency="urgent", send_sms=True)
    _drain_sms_queue(api)
    jobs.run("notice-sms", {"notice_id": notice["notice_id"]})
    world.api.delete(f"/staff/notices/{notice['notice_id']}", token=world.staff.token)
    _deliver(api, _drain_sms_queue(api))
    assert [m for p, m in _sms() if p == owner.phone] == []
