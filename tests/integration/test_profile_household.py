"""PATCH /me, the household with door access and its SNS events, and GET /me/history (API.md §5)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib import deps


@pytest.fixture(scope="module")
def door_events(api):
    """An SQS queue subscribed to the door-access topic (as the door system would be): read the JSON events."""
    sns, sqs = deps.aws_client("sns"), deps.aws_client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("-door-access"))
    url = sqs.create_queue(QueueName="door-system-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    seen: list[dict] = []

    def read(member_id: str) -> list[dict]:
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for message in batch:
                seen.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in seen if e["member_id"] == member_id]

    return read


def _member(api, owner, unit_id, **extra):
    body = {"unit_id": unit_id, "name": "李四", "relation": "spouse", "access": True, **extra}
    reply = api.post("/me/household", body, token=owner.token)
    assert reply.status == 201, reply.body
    return reply.body


def _history(api, token) -> list[dict]:
    reply = api.get("/me/history?limit=100", token=token)
    assert reply.status == 200, reply.body
    return reply.body["items"]


# -- PATCH /me ------------------------------------------------------------------------------------


def test_patch_me_updates_email_tags_and_merges_notification_prefs(api, world):
    owner = world.owner()
    reply = api.patch("/me", {"email": "li@example.com", "tags": ["pet_owner", "car_owner"],
                              "notification_prefs": {"sms_notices": False}}, token=owner.token)
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "li@example.com"
    assert reply.body["tags"] == ["car_owner", "pet_owner"]
    assert reply.body["notification_prefs"] == {"sms_notices": False}
    assert reply.body["phone"] == owner.phone and reply.body["units"]
    # a second change of another key keeps the first
    reply = api.patch("/me", {"notification_prefs": {"sms_repairs": False}, "tags": []}, token=owner.token)
    assert reply.body["notification_prefs"] == {"sms_notices": False, "sms_repairs": False}
    assert reply.body["tags"] == []
    assert api.get("/me", token=owner.token).body["notification_prefs"] == {"sms_notices": False, "sms_repairs": False}
    assert "profile.updated" in [e["action"] for e in _history(api, owner.token)]


@pytest.mark.parametrize("patch", [
    {"role": "admin"}, {"user_id": "u_other"}, {"phone": "+8613900000000"}, {"name": "x", "email": "a@b.cn"},
    {"tags": ["vip"]}, {"tags": "pet_owner"}, {"tags": ["pet_owner", "pet_owner"]},
    {"notification_prefs": {"sms_marketing": True}}, {"notification_prefs": {"sms_notices": "no"}},
    {"email": "not-an-email"}, {},
])
def test_patch_me_refuses_unknown_or_invalid_fields_and_applies_nothing(api, world, patch):
    owner = world.owner()
    before = api.get("/me", token=owner.token).body
    reply = api.patch("/me", patch, token=owner.token)
    assert reply.status == 400 and reply.code == "validation_error"
    assert api.get("/me", token=owner.token).body == before


# -- household ------------------------------------------------------------------------------------


def test_household_add_with_access_publishes_a_granted_event(api, world, door_events):
    owner = world.owner()
    until = (date.today() + timedelta(days=30)).isoformat()
    member = _member(api, owner, world.unit_ids[0], phone="+8613700137000", access_until=until)
    assert member["access_granted"] is True and member["access_until"] == until
    assert member["phone"] == "+86 137****7000"
    listed = api.get("/me/household", token=owner.token)
    assert [m["member_id"] for m in listed.body["items"]] == [member["member_id"]]
    events = door_events(member["member_id"])
    assert [e["action"] for e in events] == ["granted"]
    event = events[0]
    assert event["unit_id"] == world.unit_ids[0] and event["name"] == "李四"
    # the grant ends with the last valid day, at midnight Asia/Shanghai (16:00 UTC the same day)
    assert event["valid_until"] == f"{until}T16:00:00Z"
    assert {"household.added", "door_access.granted"} <= {e["action"] for e in _history(api, owner.token)}


def test_household_member_without_access_publishes_nothing(api, world, door_events):
    owner = world.owner()
    member = _member(api, owner, world.unit_ids[0], access=False)
    assert member["access_granted"] is False
    assert door_events(member["member_id"]) == []


def test_household_removing_a_member_revokes_access_once(api, world, door_events):
    owner = world.owner()
    member = _member(api, owner, world.unit_ids[0])
    assert api.delete(f"/me/household/{member['member_id']}", token=owner.token).status == 204
    assert api.get("/me/household", token=owner.token).body["items"] == []
    # a retried DELETE finds nothing to do and publishes nothing more
    assert api.delete(f"/me/household/{member['member_id']}", token=owner.token).status == 404
    events = door_events(member["member_id"])
    assert [e["action"] for e in events] == ["granted", "revoked"]
    assert events[1]["valid_until"] is not None
    actions = [e["action"] for e in _history(api, owner.token)]
    assert actions[:2] == ["door_access.revoked", "household.removed"] or \
        {"door_access.revoked", "household.removed"} <= set(actions)


def test_household_refuses_units_the_caller_does_not_own(api, world):
    owner = world.owner()
    reply = api.post("/me/household", {"unit_id": world.unit_ids[1], "name": "王五", "relation": "child",
                                       "access": False}, token=owner.token)
    assert reply.status == 404 and reply.code == "not_found"


@pytest.mark.parametrize("extra", [
    {"access_until": "2000-01-01"}, {"access": False, "access_until": "2999-01-01"}, {"access_until": "2026-13-01"},
    {"relation": ""}, {"name": "x" * 31}, {"phone": "12345"}, {"member_id": "hm_x"},
])
def test_household_add_refuses_invalid_input(api, world, extra):
    owner = world.owner()
    body = {"unit_id": world.unit_ids[0], "name": "李四", "relation": "spouse", "access": True, **extra}
    reply = api.post("/me/household", body, token=owner.token)
    assert reply.status == 400 and reply.code == "validation_error"
    assert api.get("/me/household", token=owner.token).body["items"] == []


def test_household_another_owner_gets_404_and_changes_nothing(api, world, door_events):
    owner, other = world.owner(), world.owner([world.unit_ids[1]])
    member = _member(api, owner, world.unit_ids[0])
    assert api.get("/me/household", token=other.token).body["items"] == []
    reply = api.delete(f"/me/household/{member['member_id']}", token=other.token)
    assert reply.status == 404 and reply.code == "not_found"
    assert [m["member_id"] for m in api.get("/me/household", token=owner.token).body["items"]] == [member["member_id"]]
    assert [e["action"] for e in door_events(member["member_id"])] == ["granted"]


def test_household_co_owners_of_a_unit_share_its_household(api, world):
    owner, co_owner = world.owner(), world.owner()
    member = _member(api, owner, world.unit_ids[0], access=False)
    assert [m["member_id"] for m in api.get("/me/household", token=co_owner.token).body["items"]] == \
        [member["member_id"]]


def test_household_list_pages_across_units_with_signed_cursors(api, world):
    owner = world.owner([world.unit_ids[0], world.unit_ids[1]])
    created = {_member(api, owner, unit, access=False)["member_id"] for unit in world.unit_ids[:2] for _ in range(2)}
    seen, cursor = [], None
    for _ in range(5):
        reply = api.get("/me/household?limit=3" + (f"&cursor={cursor}" if cursor else ""), token=owner.token)
        assert reply.status == 200, reply.body
        seen += [m["member_id"] for m in reply.body["items"]]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    first = api.get("/me/household?limit=1", token=owner.token).body["next_cursor"]
    other = world.owner()
    assert api.get(f"/me/household?cursor={first}", token=other.token).code == "invalid_cursor"


def _sweep_at(moment: datetime):
    from chalicelib.adapters.dynamo.household import DynamoHousehold
    from chalicelib.domain.household import HouseholdService

    return HouseholdService(DynamoHousehold(), deps.communities(), deps.door_access(), deps.audit(),
                            clock=lambda: moment).sweep()


def test_door_access_sweep_expires_lapsed_grants_once(api, world, door_events):
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.reminders import business_today
    from chalicelib.events import schedules

    owner = world.owner()
    today = business_today(utcnow())  # the date in Asia/Shanghai, where access ends (not the machine's date)
    lapsing = _member(api, owner, world.unit_ids[0], access_until=today.isoformat())
    lasting = _member(api, owner, world.unit_ids[0], name="王五", access_until=(today + timedelta(days=9)).isoformat())
    # the scheduled job run now expires neither
    schedules.run("door-access-expiry")
    assert [e["action"] for e in door_events(lapsing["member_id"])] == ["granted"]
    # the next day at 00:05 Asia/Shanghai, twice (a schedule can fire twice)
    after = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    first, second = _sweep_at(after), _sweep_at(after)
    assert first["expired"] >= 1 and second["expired"] == 0
    events = door_events(lapsing["member_id"])
    assert [e["action"] for e in events] == ["granted", "expired"]
    assert events[1]["valid_until"] == f"{today.isoformat()}T16:00:00Z"
    assert [e["action"] for e in door_events(lasting["member_id"])] == ["granted"]
    listed = {m["member_id"]: m for m in api.get("/me/household", token=owner.token).body["items"]}
    assert listed[lapsing["member_id"]]["access_granted"] is False
    assert listed[lasting["member_id"]]["access_granted"] is True
    # removing the expired member revokes nothing more
    assert api.delete(f"/me/household/{lapsing['member_id']}", token=owner.token).status == 204
    assert [e["action"] for e in door_events(lapsing["member_id"])] == ["granted", "expired"]


def test_door_access_event_left_pending_is_published_by_a_retry_not_twice(api, world, door_events, monkeypatch):
    owner = world.owner()
    member = _member(api, owner, world.unit_ids[0])
    publisher = deps.door_access()
    original = publisher.publish

    def down(event):
        raise RuntimeError("SNS is down")

    # the revocation is decided, but SNS fails: the owner sees an error
    monkeypatch.setattr(publisher, "publish", down)
    assert api.delete(f"/me/household/{member['member_id']}", token=owner.token).status == 500
    assert [e["action"] for e in door_events(member["member_id"])] == ["granted"]
    # the retried DELETE publishes it; one more retry changes nothing
    monkeypatch.setattr(publisher, "publish", original)
    assert api.delete(f"/me/household/{member['member_id']}", token=owner.token).status == 204
    assert api.delete(f"/me/household/{member['member_id']}", token=owner.token).status == 404
    assert [e["action"] for e in door_events(member["member_id"])] == ["granted", "revoked"]


def test_door_access_sweep_publishes_events_a_failed_request_left_behind(api, world, door_events, monkeypatch):
    owner = world.owner()
    publisher = deps.door_access()
    monkeypatch.setattr(publisher, "publish", lambda event: (_ for _ in ()).throw(RuntimeError("down")))
    reply = api.post("/me/household", {"unit_id": world.unit_ids[0], "name": "赵六", "relation": "parent",
                                       "access": True}, token=owner.token)
    assert reply.status == 500
    monkeypatch.undo()
    member_id = api.get("/me/household", token=owner.token).body["items"][0]["member_id"]
    later = datetime.now(UTC) + timedelta(hours=1)
    _sweep_at(later)
    _sweep_at(later)
    assert [e["action"] for e in door_events(member_id)] == ["granted"]


# -- history --------------------------------------------------------------------------------------


def test_history_is_newest_first_paged_and_the_callers_own(api, world):
    owner, other = world.owner(), world.owner()
    for tags in (["pet_owner"], ["elderly"], ["car_owner"]):
        api.patch("/me", {"tags": tags}, token=owner.token)
    page = api.get("/me/history?limit=2", token=owner.token)
    assert page.status == 200 and len(page.body["items"]) == 2
    assert set(page.body["items"][0]) >= {"at", "action", "summary", "ref"}
    rest = api.get(f"/me/history?limit=100&cursor={page.body['next_cursor']}", token=owner.token).body["items"]
    everything = page.body["items"] + rest
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    assert [e["action"] for e in everything].count("profile.updated") == 3
    # another owner sees none of it, and cannot use the owner's cursor
    assert "profile.updated" not in [e["action"] for e in _history(api, other.token)]
    reply = api.get(f"/me/history?cursor={page.body['next_cursor']}", token=other.token)
    assert reply.status == 400 and reply.code == "invalid_cursor"
