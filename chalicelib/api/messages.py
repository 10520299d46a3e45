"""Owner ↔ property messages and the community board (API.md §9)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created, no_content
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, STAFF, principal, route
from chalicelib.domain import board as board_domain
from chalicelib.domain import messages as messages_domain
from chalicelib.domain.board import NewPost, Post
from chalicelib.domain.messages import Message, NewMessage

bp = Blueprint(__name__)

OWNERS_AND_STAFF = OWNERS | STAFF
SUBJECT_MAX, BODY_MAX, REPLY_MAX = 100, 2000, 1000
TITLE_MAX, POST_BODY_MAX, PRICE_MAX = 60, 2000, 100_000_000


def message_json(message: Message, *, replies: bool = True) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "message_id": message.message_id, "category": message.category, "subject": message.subject,
        "body": message.body, "status": message.status, "created_at": message.created_at,
        "updated_at": message.updated_at, "community_id": message.community_id, "unit_id": message.unit_id,
        "reply_count": len(message.replies)}
    if replies:
        shaped["replies"] = [{"body": r.body, "at": r.at, "author_role": r.author_role} for r in message.replies]
    return shaped


def _page(list_id: str, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    params = page_params(bp.current_request.query_params, extra)
    return params, decode_cursor(params["cursor"], list_id, principal().user_id)


# -- owners ---------------------------------------------------------------------------------------


@route(bp, "/messages", ["POST"], roles=OWNERS)
def create_message() -> Any:
    data = body(bp, {"category": v.choice(messages_domain.CATEGORIES), "subject": v.text(SUBJECT_MAX),
                     "body": v.text(BODY_MAX, multiline=True), "unit_id": v.ident(required=False)})
    return created(message_json(deps.messages().create(principal(), NewMessage(**data))))


@route(bp, "/messages", roles=OWNERS)
def list_messages() -> Any:
    params, start = _page("messages")
    caller = principal()
    page = deps.messages().list_own(caller, params["limit"], start)
    return page_body([message_json(m, replies=False) for m in page.items], "messages", caller.user_id, page.last_key)


@route(bp, "/messages/{message_id}", roles=OWNERS)
def get_message(message_id: str) -> Any:
    return message_json(deps.messages().own(principal(), message_id))


@route(bp, "/messages/{message_id}/replies", ["POST"], roles=OWNERS)
def owner_reply(message_id: str) -> Any:
    data = body(bp, {"body": v.text(REPLY_MAX, multiline=True)})
    return created(message_json(deps.messages().owner_reply(principal(), message_id, data["body"])))


# -- staff ----------------------------------------------------------------------------------------


@route(bp, "/staff/messages")
def staff_messages() -> Any:
    filters = {"status": v.choice(messages_domain.STATUSES, required=False, default="open"),
               "community_id": v.ident(required=False)}
    params = page_params(bp.current_request.query_params, filters)
    caller = principal()
    list_id = f"staff-messages:{params['community_id'] or '*'}:{params['status']}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.messages().staff_list(caller, params["community_id"], params["status"], params["limit"], start)
    return page_body([message_json(m, replies=False) for m in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/staff/messages/{message_id}/replies", ["POST"])
def staff_reply(message_id: str) -> Any:
    data = body(bp, {"body": v.text(REPLY_MAX, multiline=True)})
    return created(message_json(deps.messages().staff_reply(principal(), message_id, data["body"])))


@route(bp, "/staff/messages/{message_id}/close", ["POST"])
def close_message(message_id: str) -> Any:
    body(bp, {})
    return message_json(deps.messages().close(principal(), message_id))


# -- board ----------------------------------------------------------------------------------------


def post_json(post: Post, caller_id: str) -> dict[str, Any]:
    return {"post_id": post.post_id, "community_id": post.community_id, "category": post.category,
            "title": post.title, "body": post.body, "price_cents": post.price_cents,
            "author_name": post.author_name, "mine": post.author_id == caller_id, "status": post.status,
            "created_at": post.created_at}


@route(bp, "/board/posts", roles=OWNERS_AND_STAFF)
def list_posts() -> Any:
    filters = {"category": v.choice(board_domain.CATEGORIES, required=False),
               "community_id": v.ident(required=False)}
    params = page_params(bp.current_request.query_params, filters)
    caller = principal()
    list_id = f"board:{params['community_id'] or '*'}:{params['category'] or '*'}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.board().list(caller, params["community_id"], params["category"], params["limit"], start)
    return page_body([post_json(p, caller.user_id) for p in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/board/posts", ["POST"], roles=OWNERS)
def create_post() -> Any:
    data = body(bp, {"category": v.choice(board_domain.CATEGORIES), "title": v.text(TITLE_MAX),
                     "body": v.text(POST_BODY_MAX, multiline=True),
                     "price_cents": v.integer(0, PRICE_MAX, required=False)})
    caller = principal()
    return created(post_json(deps.board().post(caller, NewPost(**data)), caller.user_id))


@route(bp, "/board/posts/{post_id}", ["DELETE"], roles=OWNERS_AND_STAFF)
def delete_post(post_id: str) -> Any:
    deps.board().delete(principal(), post_id)
    return no_content()


@route(bp, "/staff/board/posts/{post_id}/hide", ["POST"])
def hide_post(post_id: str) -> Any:
    body(bp, {})
    caller = principal()
    return post_json(deps.board().hide(caller, post_id), caller.user_id)
