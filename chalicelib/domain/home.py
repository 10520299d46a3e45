"""`GET /home` (API.md §10): the owner's first screen from a fixed number of reads, whatever they own.

Three queries (their communities' newest notices, their communities' next events, their open repairs) and one
lookup by key of everything those answers need about the owner (account, read marks, sign-ups, and the
maintained summary of their open bills): with the session check, five DynamoDB calls, one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from chalicelib.domain.bills import OpenBill, Summary, summarize
from chalicelib.domain.model import Account, Principal
from chalicelib.domain.notices import (
    HOME_EVENTS_WINDOW,
    HOME_WINDOW,
    Event,
    EventService,
    FeedEntry,
    NoticeService,
    Reader,
    events_for,
    unread_of,
)

HOME_ITEMS = 3


@dataclass(frozen=True)
class OwnerFacts:
    """What the home screen needs to know about one owner, fetched by key in one round trip."""

    account: Account | None
    read_ids: set[str] = field(default_factory=set)
    signed_up: set[str] = field(default_factory=set)
    open_bills: list[OpenBill] = field(default_factory=list)


class OwnerLookups(Protocol):
    def fetch(self, user_id: str, notice_ids: Iterable[str], event_ids: Iterable[str]) -> OwnerFacts:
        """The account, which notices were read, which events signed up for, and the open-bill summary."""
        ...


class OpenRepairs(Protocol):
    def list_own(self, caller: Principal, group: Any, limit: int, start: dict[str, Any] | None) -> Any: ...


@dataclass(frozen=True)
class Home:
    unpaid: Summary
    notices: list[FeedEntry]
    repairs: list[Any]
    events: list[tuple[Event, bool]]


class HomeService:
    def __init__(self, notices: NoticeService, events: EventService, repairs: OpenRepairs, lookups: OwnerLookups,
                 today: Callable[[], date]):
        self._notices = notices
        self._events = events
        self._repairs = repairs
        self._lookups = lookups
        self._today = today

    def home(self, caller: Principal, n: int = HOME_ITEMS) -> Home:
        """Open bills summed up, up to `n` unread notices, open repairs and upcoming events for the caller."""
        entries, _ = self._notices.candidates(caller.community_ids, None, None, HOME_WINDOW)
        events = self._events.upcoming_candidates(caller.community_ids, HOME_EVENTS_WINDOW)
        repairs = self._repairs.list_own(caller, "open", n, None).items
        facts = self._lookups.fetch(caller.user_id, [e.notice_id for e in entries], [e.event_id for e in events])
        unpaid = summarize(facts.open_bills, self._today())
        if facts.account is None:
            return Home(unpaid, [], repairs, [])
        reader = Reader.of(facts.account)
        return Home(unpaid, unread_of(reader, entries, facts.read_ids, n), repairs,
                    events_for(reader, events, facts.signed_up, n))
