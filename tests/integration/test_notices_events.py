"""Community events (API.md §8): upcoming list, sign-up with an atomic capacity check, cancel, audiences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib import deps
from tests.integration.helpers import race


def _at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_event(world, title: str = "中秋晚会", capacity: int = 10, starts_in: float = 24, **fields) -> dict:
    reply = world.api.post("/staff/events", {
        "community_id": world.community_id, "title": title, "description": "欢迎参加", "location": "会所",
        "starts_at": _at(starts_in), "ends_at": _at(starts_in + 2), "capacity": capacity, **fields},
        token=world.staff.token)
    assert reply.status == 201, reply.body
    return reply.body


def events_of(world, owner) -> list[dict]:
    reply = world.api.get("/events", token=owner.token)
    assert reply.status == 200, reply.body
    return reply.body["items"]


def test_events_sign_up_full_already_signed_up_and_cancel(world):
    first, second = world.owner(), world.owner()
    later = create_event(world, "later", capacity=4, starts_in=48)
    event = create_event(world, "soon", capacity=4)
    listed = events_of(world, first)
    assert [(e["title"], e["seats_left"], e["signed_up"]) for e in listed] == [("soon", 4, False), ("later", 4, False)]
    # sign up for three
    signed = world.api.post(f"/events/{event['event_id']}/signup", {"attendees": 3}, token=first.token)
    assert signed.status == 201 and signed.body["seats_left"] == 1 and signed.body["signed_up"] is True
    again = world.api.post(f"/events/{event['event_id']}/signup", {"attendees": 1}, token=first.token)
    assert again.status == 409 and again.code == "already_signed_up"
    full = world.api.post(f"/events/{event['event_id']}/signup", {"attendees": 2}, token=second.token)
    assert full.status == 409 and full.code == "event_full"
    mine, theirs = events_of(world, first)[0], events_of(world, second)[0]
    assert (mine["seats_left"], mine["signed_up"], theirs["seats_left"], theirs["signed_up"]) == (1, True, 1, False)
    # staff see who signed up, phone masked
    signups = world.api.get(f"/staff/events/{event['event_id']}/signups", token=world.staff.token).body["items"]
    assert [(s["user_id"], s["attendees"]) for s in signups] == [(first.user_id, 3)]
    assert "****" in signups[0]["phone"]
    # cancelling frees the seats; a second cancel finds nothing
    assert world.api.delete(f"/events/{event['event_id']}/signup", token=first.token).status == 204
    assert world.api.delete(f"/events/{event['event_id']}/signup", token=first.token).status == 404
    assert world.api.post(f"/events/{event['event_id']}/signup", {"attendees": 2}, token=second.token).status == 201
    assert events_of(world, first)[0]["seats_left"] == 2
    assert later["seats_left"] == 4


def test_event_attendees_are_one_to_five(world):
    owner = world.owner()
    event = create_event(world)
    for bad in (0, 6, "2"):
        reply = world.api.post(f"/events/{event['event_id']}/signup", {"attendees": bad}, token=owner.token)
        assert reply.status == 400, bad


def test_event_audience_and_foreign_communities(world, api, admin_token):
    from tests.integration.helpers import make_world

    in_b0, in_b1 = world.owner([world.unit_ids[0]]), world.owner([world.unit_ids[2]])
    event = create_event(world, "1号楼聚会", audience={"building_ids": [world.building_ids[0]]})
    assert [e["title"] for e in events_of(world, in_b0)] == ["1号楼聚会"]
    assert events_of(world, in_b1) == []
    assert api.post(f"/events/{event['event_id']}/signup", {"attendees": 1}, token=in_b1.token).status == 404
    other = make_world(api, admin_token)
    assert api.get(f"/staff/events/{event['event_id']}/signups", token=other.staff.token).status == 404
    denied = api.post("/staff/events", {"community_id": world.community_id, "title": "x", "description": "y",
                                        "location": "z", "starts_at": _at(1), "ends_at": _at(2), "capacity": 3},
                      token=other.staff.token)
    assert denied.status == 404


def test_event_times_are_validated(world):
    reply = world.api.post("/staff/events", {"community_id": world.community_id, "title": "x", "description": "y",
                                             "location": "z", "starts_at": _at(3), "ends_at": _at(2),
                                             "capacity": 3}, token=world.staff.token)
    assert reply.status == 400 and "ends_at" in reply.body["details"]["fields"]


def test_concurrent_signups_never_exceed_capacity(world):
    from chalicelib.adapters.dynamo.notices import DynamoEvents
    from chalicelib.domain.notices import Signup
    from chalicelib.errors import Conflict

    # given an event with 10 seats and 24 owners trying at once for 1-3 seats each
    event = create_event(world, capacity=10)
    repo = DynamoEvents()
    wanted = {f"u_racer{i:02d}": 1 + i % 3 for i in range(24)}
    won: dict[str, int] = {}
    lost: list[str] = []

    def attempt(user_id: str, seats: int) -> None:
        try:
            repo.sign_up(Signup(event["event_id"], user_id, "x", "+8613900000000", seats, "2026-01-01T00:00:00Z"))
            won[user_id] = seats
        except Conflict as error:
            assert error.code == "event_full"
            lost.append(user_id)

    # a sign-up reads nothing first (one conditional transaction), so starting all 24 at once is the race
    outcomes = race([lambda item=item: attempt(*item) for item in wanted.items()])
    assert [o for o in outcomes if o is not None] == []  # no attempt failed in any other way
    # then the seats taken never exceed the capacity and the counter agrees with the sign-ups
    stored = repo.get(event["event_id"])
    signups = repo.signups(event["event_id"], 100, None).items
    assert sum(won.values()) <= 10 and len(won) + len(lost) == 24
    assert sum(s.attendees for s in signups) == sum(won.values()) == 10 - stored.seats_left
    assert stored.seats_left >= 0


def test_upcoming_for_home_lists_events_with_signed_up(world):
    owner = world.owner()
    event = create_event(world, "home", capacity=5)
    world.api.post(f"/events/{event['event_id']}/signup", {"attendees": 2}, token=owner.token)
    [(found, signed_up)] = deps.event_service().upcoming_for(owner.user_id, 3)
    assert (found.title, found.seats_left, signed_up) == ("home", 3, True)
