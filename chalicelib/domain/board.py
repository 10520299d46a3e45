"""The community board (API.md §9): owners post to the other owners of their community; staff moderate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.authflow import CounterLimit, hour_window
from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog, Page
from chalicelib.errors import NotFound, RateLimited, field_error

CATEGORIES: tuple[str, ...] = ("second_hand", "general")
POSTS_PER_HOUR = 5


@dataclass(frozen=True)
class Post:
    post_id: str
    community_id: str
    author_id: str
    author_name: str
    category: str
    title: str
    body: str
    price_cents: int | None
    created_at: str
    status: str = "visible"  # or "hidden" (by staff)


@dataclass(frozen=True)
class NewPost:
    category: str
    title: str
    body: str
    price_cents: int | None = None


class BoardRepository(Protocol):
    def create(self, post: Post) -> None: ...

    def get(self, post_id: str) -> Post | None: ...

    def delete(self, post_id: str) -> None: ...

    def hide(self, post_id: str) -> None:
        """Mark hidden and drop it from the listing indexes."""

    def list(self, community_id: str, category: str | None, limit: int,
             start: dict[str, Any] | None) -> Page[Post]:
        """Visible posts of a community (optionally one category), newest first."""


class RateCounter(Protocol):
    def hit(self, limit: CounterLimit, now: int) -> None:
        """Count one hit under `limit` atomically; raise `RateLimited` (counting nothing) at the limit."""


class BoardService:
    def __init__(self, posts: BoardRepository, accounts: AccountRepository, counter: RateCounter, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self._posts = posts
        self._accounts = accounts
        self._counter = counter
        self._audit = audit
        self._clock = clock

    def list(self, caller: Principal, community_id: str | None, category: str | None, limit: int,
             start: dict[str, Any] | None) -> Page[Post]:
        """An owner's community (by default the one of their first unit), or one a staff member works for."""
        return self._posts.list(self._community(caller, community_id), category, limit, start)

    def post(self, caller: Principal, cmd: NewPost) -> Post:
        """Publish a post to the caller's first community, within the hourly limit."""
        if cmd.price_cents is not None and cmd.category != "second_hand":
            raise field_error("price_cents", "is only allowed for second_hand posts")
        account = self._accounts.get(caller.user_id)
        if account is None or not account.units:
            raise NotFound("You have no unit.")
        now = self._clock()
        epoch = int(now.timestamp())
        window, window_end = hour_window(epoch)
        # The window is part of the key, so a counter that DynamoDB has not yet expired never counts again;
        # a refused post counts nothing.
        try:
            self._counter.hit(CounterLimit(f"board-post#{caller.user_id}#{window}", POSTS_PER_HOUR, window_end), epoch)
        except RateLimited as limited:
            raise RateLimited(limited.retry_after, "You can post at most 5 times per hour.") from None
        post = Post(new_id("p"), account.units[0].community_id, caller.user_id, account.name, cmd.category,
                    cmd.title, cmd.body, cmd.price_cents, iso(now))
        self._posts.create(post)
        self._record(caller.user_id, "board.posted", f"Posted on the board: {cmd.title}", post.post_id)
        return post

    def delete(self, caller: Principal, post_id: str) -> None:
        """The author, or staff of the post's community, may delete it."""
        post = self._posts.get(post_id)
        if post is None or not (post.author_id == caller.user_id
                                or (caller.is_staff and caller.can_access_community(post.community_id))):
            raise NotFound("The post was not found.")
        self._posts.delete(post_id)
        if post.author_id == caller.user_id:
            self._record(caller.user_id, "board.deleted", f"Deleted board post: {post.title}", post_id)

    def hide(self, caller: Principal, post_id: str) -> Post:
        post = self._posts.get(post_id)
        if post is None or not caller.can_access_community(post.community_id):
            raise NotFound("The post was not found.")
        if post.status != "hidden":
            self._posts.hide(post_id)
            self._record(post.author_id, "board.hidden", f"Board post hidden by the property: {post.title}",
                         post_id)
        return replace(post, status="hidden")

    def _community(self, caller: Principal, community_id: str | None) -> str:
        if caller.role == "owner":
            if community_id is None:
                account = self._accounts.get(caller.user_id)
                if account is None or not account.units:
                    raise NotFound("You have no unit.")
                return account.units[0].community_id
            if community_id not in caller.community_ids:
                raise NotFound("The community was not found.")
            return community_id
        if community_id is None:
            raise field_error("community_id", "is required for staff")
        if not caller.can_access_community(community_id):
            raise NotFound("The community was not found.")
        return community_id

    def _record(self, user_id: str, action: str, summary: str, ref: str) -> None:
        self._audit.record(AuditEvent(user_id, iso(self._clock()), action, summary, ref))
