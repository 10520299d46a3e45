"""The community board: owners' posts, read by owners and staff, hidden by staff (API.md §9)."""

from __future__ import annotations

from typing import Literal, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain import board as board_domain
from chalicelib.domain.board import NewPost, Post

TITLE_MAX, POST_BODY_MAX, PRICE_MAX = 60, 2000, 100_000_000

Category = Literal["second_hand", "general"]
PostStatus = Literal["visible", "hidden"]


class PostsQuery(PageQuery):
    category = v.choice(board_domain.CATEGORIES, required=False)
    community_id = v.about(v.ident(required=False),
                           "Owners: default the community of their first unit; staff: required")


class NewPostBody(v.Shape):
    category = v.choice(board_domain.CATEGORIES)
    title = v.text(TITLE_MAX)
    body = v.text(POST_BODY_MAX, multiline=True)
    price_cents = v.about(v.integer(0, PRICE_MAX, required=False), "Asking price in fen (second_hand only)")


class BoardPost(TypedDict):
    post_id: str
    community_id: str
    category: Category
    title: str
    body: str
    price_cents: int | None
    author_name: str
    mine: bool
    status: PostStatus
    created_at: str


def post_json(post: Post, caller_id: str) -> BoardPost:
    return BoardPost(post_id=post.post_id, community_id=post.community_id, category=post.category,  # type: ignore[typeddict-item]
                     title=post.title, body=post.body, price_cents=post.price_cents,
                     author_name=post.author_name, mine=post.author_id == caller_id,
                     status=post.status, created_at=post.created_at)  # type: ignore[typeddict-item]


@endpoint(query=PostsQuery, response=page_of(BoardPost), errors=("not_found",))
def list_posts(query: PostsQuery) -> dict:
    """Posts of a community's board, newest first, optionally of one category."""
    caller = principal()
    list_id = f"board:{query.community_id or '*'}:{query.category or '*'}"
    page = deps.board().list(caller, query.community_id, query.category, query.limit, start_of(query, list_id))
    return page_answer([post_json(p, caller.user_id) for p in page.items], list_id, page.last_key)


@endpoint(body=NewPostBody, response=BoardPost, status=201, errors=("not_found", "rate_limited"))
def create_post(body: NewPostBody) -> BoardPost:
    """Post on the board of the owner's community (at most 5 posts an hour)."""
    caller = principal()
    cmd = NewPost(category=body.category, title=body.title, body=body.body, price_cents=body.price_cents)
    return post_json(deps.board().post(caller, cmd), caller.user_id)


@endpoint(status=204)
def delete_post(post_id: str) -> None:
    """Delete a post: the author's own, or any of a community the caller manages."""
    deps.board().delete(principal(), post_id)


@endpoint(response=BoardPost)
def hide_post(post_id: str) -> BoardPost:
    """Hide a post from the board (staff of its community)."""
    caller = principal()
    return post_json(deps.board().hide(caller, post_id), caller.user_id)
