"""`GET /home`: unpaid bills, unread notices, open repairs and upcoming events in one answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_home_shows_what_the_owner_needs_first(api, world):
    owner = world.owner([world.unit_ids[0]])
    staff = world.staff.token
    # a bill, a notice, a repair and an event
    due = datetime.now(UTC).date() + timedelta(days=10)
    assert api.post("/staff/bills", {"unit_id": world.unit_ids[0], "type": "parking", "period": due.strftime("%Y-%m"),
                                     "items": [{"code": "parking", "name": "停车费", "unit_price_cents": 30_000}],
                                     "due_date": due.isoformat()}, token=staff).status == 201
    notice = api.post("/staff/notices", {"community_id": world.community_id, "title": "停水通知", "body": "明天停水",
                                         "category": "outage", "urgency": "normal", "audience": {}}, token=staff)
    assert notice.status == 201
    repair = api.post("/repairs", {"unit_id": world.unit_ids[0], "kind": "repair", "category": "plumbing",
                                   "location": "厨房", "description": "水龙头漏水"}, token=owner.token)
    assert repair.status == 201
    starts = datetime.now(UTC) + timedelta(days=3)
    event = api.post("/staff/events", {"community_id": world.community_id, "title": "亲子活动", "description": "x",
                                       "location": "会所", "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                       "ends_at": (starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                       "capacity": 20}, token=staff)
    assert event.status == 201
    # when
    home = api.get("/home", token=owner.token)
    # then
    assert home.status == 200
    assert home.body["unpaid"]["count"] == 1 and home.body["unpaid"]["total_cents"] == 30_000
    assert [n["title"] for n in home.body["notices"]] == ["停水通知"]
    assert [r["repair_id"] for r in home.body["repairs"]] == [repair.body["repair_id"]]
    assert [e["title"] for e in home.body["events"]] == ["亲子活动"]
    assert home.body["events"][0]["seats_left"] == 20 and home.body["events"][0]["signed_up"] is False
    # a read notice leaves the home screen
    assert api.post(f"/notices/{notice.body['notice_id']}/read", token=owner.token).status == 204
    assert api.get("/home", token=owner.token).body["notices"] == []


def test_home_is_for_owners_and_shows_only_their_own(api, world):
    assert api.get("/home", token=world.staff.token).status == 403
    other = world.owner([world.unit_ids[2]])
    home = api.get("/home", token=other.token)
    assert home.status == 200 and home.body["repairs"] == [] and home.body["unpaid"]["count"] == 0
