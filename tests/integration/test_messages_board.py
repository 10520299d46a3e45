"""Owner ↔ property messages and the community board (API.md §9)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import activate, make_world, random_phone


def _message(api, owner, **extra):
    body = {"category": "question", "subject": "停车位", "body": "地下车库什么时候开放？", **extra}
    reply = api.post("/messages", body, token=owner.token)
    assert reply.status == 201, reply.body
    return reply.body


def _post(api, owner, **extra):
    body = {"category": "second_hand", "title": "出售婴儿车", "body": "九成新", "price_cents": 20000, **extra}
    reply = api.post("/board/posts", body, token=owner.token)
    assert reply.status == 201, reply.body
    return reply.body


# -- messages -------------------------------------------------------------------------------------


def test_messages_thread_between_owner_and_staff(api, world):
    owner = world.owner()
    message = _message(api, owner)
    assert message["status"] == "open" and message["replies"] == [] and message["category"] == "question"
    # staff see it among the open threads of their community and answer
    listed = api.get("/staff/messages?status=open", token=world.staff.token)
    assert listed.status == 200 and [m["message_id"] for m in listed.body["items"]] == [message["message_id"]]
    staff_reply = api.post(f"/staff/messages/{message['message_id']}/replies", {"body": "下周一开放"},
                           token=world.staff.token)
    assert staff_reply.status == 201
    owner_reply = api.post(f"/messages/{message['message_id']}/replies", {"body": "谢谢"}, token=owner.token)
    assert owner_reply.status == 201
    thread = api.get(f"/messages/{message['message_id']}", token=owner.token)
    assert thread.status == 200
    replies = [(r["body"], r["author_role"]) for r in thread.body["replies"]]
    assert replies == [("下周一开放", "staff"), ("谢谢", "owner")]
    assert set(thread.body) >= {"message_id", "category", "subject", "body", "status", "created_at", "replies"}
    # closing moves it to the closed list and refuses further replies from both sides
    closed = api.post(f"/staff/messages/{message['message_id']}/close", token=world.staff.token)
    assert closed.status == 200 and closed.body["status"] == "closed" and len(closed.body["replies"]) == 2
    assert api.get("/staff/messages?status=open", token=world.staff.token).body["items"] == []
    assert [m["message_id"] for m in api.get("/staff/messages?status=closed", token=world.staff.token).body["items"]] \
        == [message["message_id"]]
    for path, token in ((f"/messages/{message['message_id']}/replies", owner.token),
                        (f"/staff/messages/{message['message_id']}/replies", world.staff.token)):
        refused = api.post(path, {"body": "还有一个问题"}, token=token)
        assert refused.status == 409 and refused.code == "conflict"
    assert len(api.get(f"/messages/{message['message_id']}", token=owner.token).body["replies"]) == 2


def test_messages_owner_lists_own_newest_first_with_pages(api, world):
    owner, other = world.owner(), world.owner()
    ids = [_message(api, owner, subject=f"问题{i}")["message_id"] for i in range(3)]
    _message(api, other)
    first = api.get("/messages?limit=2", token=owner.token)
    assert first.status == 200 and len(first.body["items"]) == 2
    second = api.get(f"/messages?limit=2&cursor={first.body['next_cursor']}", token=owner.token)
    seen = [m["message_id"] for m in first.body["items"] + second.body["items"]]
    assert sorted(seen) == sorted(ids) and second.body["next_cursor"] is None
    assert api.get(f"/messages?cursor={first.body['next_cursor']}", token=other.token).code == "invalid_cursor"


@pytest.mark.parametrize("body", [
    {"category": "praise", "subject": "s", "body": "b"}, {"category": "question", "subject": "", "body": "b"},
    {"category": "question", "subject": "s" * 101, "body": "b"}, {"category": "question", "subject": "s"},
    {"category": "question", "subject": "s", "body": "b", "status": "closed"},
])
def test_messages_create_refuses_invalid_input(api, world, body):
    owner = world.owner()
    reply = api.post("/messages", body, token=owner.token)
    assert reply.status == 400 and reply.code == "validation_error"
    assert api.get("/messages", token=owner.token).body["items"] == []


def test_messages_another_owner_gets_404_and_changes_nothing(api, world):
    owner, other = world.owner(), world.owner()
    message = _message(api, owner)
    assert api.get(f"/messages/{message['message_id']}", token=other.token).status == 404
    reply = api.post(f"/messages/{message['message_id']}/replies", {"body": "插一句"}, token=other.token)
    assert reply.status == 404 and reply.code == "not_found"
    assert api.get("/messages", token=other.token).body["items"] == []
    assert api.get(f"/messages/{message['message_id']}", token=owner.token).body["replies"] == []


def test_messages_staff_of_another_community_get_404_and_change_nothing(api, world, admin_token):
    owner = world.owner()
    message = _message(api, owner)
    elsewhere = make_world(api, admin_token)
    token = elsewhere.staff.token
    assert api.post(f"/staff/messages/{message['message_id']}/replies", {"body": "x"}, token=token).status == 404
    assert api.post(f"/staff/messages/{message['message_id']}/close", token=token).status == 404
    assert api.get("/staff/messages", token=token).body["items"] == []
    assert api.get(f"/staff/messages?community_id={world.community_id}", token=token).status == 404
    thread = api.get(f"/messages/{message['message_id']}", token=owner.token).body
    assert thread["status"] == "open" and thread["replies"] == []


def test_messages_owners_and_technicians_never_reach_staff_routes(api, world):
    owner = world.owner()
    message = _message(api, owner)
    for token in (owner.token, world.technician.token):
        assert api.get("/staff/messages", token=token).status == 403
        assert api.post(f"/staff/messages/{message['message_id']}/close", token=token).status == 403


# -- board ----------------------------------------------------------------------------------------


def test_board_owners_of_a_community_see_each_others_posts(api, world, admin_token):
    author, neighbour = world.owner(), world.owner([world.unit_ids[2]])
    post = _post(api, author)
    general = _post(api, author, category="general", title="周末跳蚤市场", price_cents=None)
    assert post["price_cents"] == 20000 and post["mine"] is True and post["status"] == "visible"
    seen = api.get("/board/posts?category=second_hand", token=neighbour.token)
    assert seen.status == 200 and [p["post_id"] for p in seen.body["items"]] == [post["post_id"]]
    assert seen.body["items"][0]["mine"] is False
    everything = api.get("/board/posts", token=neighbour.token).body["items"]
    assert [p["post_id"] for p in everything] == [general["post_id"], post["post_id"]]
    # an owner of another community sees none of it, and cannot ask for it
    stranger = make_world(api, admin_token).owner()
    assert api.get("/board/posts", token=stranger.token).body["items"] == []
    reply = api.get(f"/board/posts?community_id={world.community_id}", token=stranger.token)
    assert reply.status == 404


def test_board_owner_with_units_in_two_communities_picks_one(api, world, admin_token):
    elsewhere = make_world(api, admin_token)
    here, there = world.owner(), elsewhere.owner()
    _post(api, here, title="这边的帖子")
    _post(api, there, title="那边的帖子")
    phone = random_phone()
    both = api.post("/staff/owners", {"name": "两处业主", "phone": phone,
                                      "unit_ids": [world.unit_ids[1], elsewhere.unit_ids[1]]}, token=admin_token)
    assert both.status == 201, both.body
    person = activate(api, both.body["user_id"], both.body["account"], both.body["initial_password"], phone)
    default = [p["title"] for p in api.get("/board/posts", token=person.token).body["items"]]
    chosen = [p["title"] for p in api.get(f"/board/posts?community_id={elsewhere.community_id}",
                                          token=person.token).body["items"]]
    assert default == ["这边的帖子"] and chosen == ["那边的帖子"]


@pytest.mark.parametrize("extra", [
    {"category": "jobs"}, {"title": ""}, {"title": "t" * 61}, {"body": "b" * 2001}, {"price_cents": -1},
    {"price_cents": 1.5}, {"category": "general"}, {"author_id": "u_x"},
])
def test_board_post_refuses_invalid_input(api, world, extra):
    owner = world.owner()
    body = {"category": "second_hand", "title": "出售", "body": "九成新", "price_cents": 100, **extra}
    reply = api.post("/board/posts", body, token=owner.token)
    assert reply.status == 400 and reply.code == "validation_error"
    assert api.get("/board/posts", token=owner.token).body["items"] == []


def test_board_posting_is_limited_to_five_an_hour(api, world):
    from datetime import UTC, datetime

    from chalicelib import deps

    # the limit counts per clock hour: hold the clock still (after the owner signed in, so the token is not
    # dated in its future), so a slow run that crosses an hour boundary between the posts does not start a
    # fresh window
    owner = world.owner()
    still = datetime.now(UTC)
    with deps.override(utc_clock=lambda: lambda: still):
        for i in range(5):
            _post(api, owner, title=f"帖子{i}")
        refused = api.post("/board/posts", {"category": "general", "title": "第六个", "body": "b"},
                           token=owner.token)
    assert refused.status == 429 and refused.code == "rate_limited"
    assert 0 < refused.body["details"]["retry_after"] <= 3600
    assert refused.headers["retry-after"] == str(refused.body["details"]["retry_after"])
    assert len(api.get("/board/posts?limit=100", token=owner.token).body["items"]) == 5
    # the limit is per owner
    _post(api, world.owner(), title="邻居的帖子")


def test_board_author_deletes_and_another_owner_gets_404(api, world):
    author, other = world.owner(), world.owner()
    post = _post(api, author)
    reply = api.delete(f"/board/posts/{post['post_id']}", token=other.token)
    assert reply.status == 404 and reply.code == "not_found"
    assert [p["post_id"] for p in api.get("/board/posts", token=author.token).body["items"]] == [post["post_id"]]
    assert api.delete(f"/board/posts/{post['post_id']}", token=author.token).status == 204
    assert api.get("/board/posts", token=author.token).body["items"] == []
    assert api.delete(f"/board/posts/{post['post_id']}", token=author.token).status == 404


def test_board_staff_of_the_community_hide_and_delete(api, world, admin_token):
    author = world.owner()
    hidden, deleted = _post(api, author, title="广告"), _post(api, author, title="违规")
    outsider = make_world(api, admin_token).staff.token
    assert api.post(f"/staff/board/posts/{hidden['post_id']}/hide", token=outsider).status == 404
    assert api.delete(f"/board/posts/{deleted['post_id']}", token=outsider).status == 404
    assert len(api.get("/board/posts", token=author.token).body["items"]) == 2
    reply = api.post(f"/staff/board/posts/{hidden['post_id']}/hide", token=world.staff.token)
    assert reply.status == 200 and reply.body["status"] == "hidden"
    assert api.delete(f"/board/posts/{deleted['post_id']}", token=world.staff.token).status == 204
    assert api.get("/board/posts", token=author.token).body["items"] == []
    staff_view = api.get(f"/board/posts?community_id={world.community_id}", token=world.staff.token)
    assert staff_view.status == 200 and staff_view.body["items"] == []
    assert api.post(f"/staff/board/posts/{hidden['post_id']}/hide", token=author.token).status == 403
