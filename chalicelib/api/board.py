"""The community board: owners' posts, read by owners and staff, hidden by staff (API.md §9)."""

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
from chalicelib.domain.board import NewPost, Post

bp = Blueprint(__name__)

OWNERS_AND_STAFF = OWNERS | STAFF
TITLE_MAX, POST_BODY_MAX, PRICE_MAX = 60, 2000, 100_000_000


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
