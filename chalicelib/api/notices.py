"""Notices, news and events (API.md §8). `GET /home` is built elsewhere from `NoticeService.unread` and
`EventService.upcoming_for`, with this module's presenters."""

from __future__ import annotations

from typing import Literal, TypedDict, overload

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain import notices as domain
from chalicelib.domain.model import TAGS
from chalicelib.observability import mask_phone

MAX_AUDIENCE_BUILDINGS = 50

# The vocabularies are the domain's: one source of truth for what is validated and what is documented.
Category = Literal[domain.CATEGORIES]  # type: ignore[valid-type]
Urgency = Literal[domain.URGENCIES]  # type: ignore[valid-type]
Tag = Literal[TAGS]  # type: ignore[valid-type]


# -- requests -------------------------------------------------------------------------------------


class NewAudience(v.Shape):
    """Who a notice or event is for: nobody listed = the whole community; otherwise every owner with a unit in
    ANY listed building OR ANY listed tag (a union)."""

    building_ids = v.about(v.id_list(0, MAX_AUDIENCE_BUILDINGS, required=False), "Buildings of the community")
    tags = v.about(v.string_set(TAGS, what="tag"), "Owner tags")


class NewNotice(v.Shape):
    """A notice to publish; an urgent one with `send_sms` is also texted to its audience."""

    community_id = v.about(v.ident(), "One of the caller's communities")
    title = v.text(100)
    body = v.text(5000, multiline=True)
    category = v.choice(domain.CATEGORIES)
    urgency = v.choice(domain.URGENCIES, required=False, default="normal")
    audience = v.about(v.nested(NewAudience, required=False), "Default: the whole community")
    send_sms = v.about(v.boolean(default=False),
                       "Text every owner in the audience once, asynchronously (urgent notices only)")
    publish_at = v.about(v.timestamp(required=False), "When owners first see it; default (or a past time): now")
    expires_at = v.about(v.timestamp(required=False), "When it leaves the feed (after publish_at); default: never")


class NewEvent(v.Shape):
    """An event to announce; owners in its audience sign up for its seats."""

    community_id = v.about(v.ident(), "One of the caller's communities")
    title = v.text(100)
    description = v.text(5000, multiline=True)
    location = v.text(200)
    starts_at = v.about(v.timestamp(), "In the future")
    ends_at = v.about(v.timestamp(), "After starts_at")
    capacity = v.about(v.integer(1, 10000), "Seats (each sign-up takes its attendees)")
    audience = v.about(v.nested(NewAudience, required=False), "Default: the whole community")


class NewSignup(v.Shape):
    """A sign-up for an event."""

    attendees = v.about(v.integer(1, domain.MAX_ATTENDEES, required=False, default=1),
                        "People coming, the owner included")


class NoticesQuery(PageQuery):
    """A page of the caller's notices."""

    category = v.about(v.choice(domain.CATEGORIES, required=False), "Only notices of this category")


def _targets(audience: NewAudience | None) -> dict[str, tuple[str, ...]]:
    if audience is None:
        return {"building_ids": (), "tags": ()}
    return {"building_ids": tuple(audience.building_ids or ()), "tags": tuple(sorted(audience.tags or ()))}


# -- answers --------------------------------------------------------------------------------------


class Audience(TypedDict):
    """Empty lists: the whole community."""

    building_ids: list[str]
    tags: list[Tag]


class Notice(TypedDict):
    notice_id: str
    community_id: str
    title: str
    body: str
    category: Category
    urgency: Urgency
    audience: Audience
    send_sms: bool
    publish_at: str
    expires_at: str | None
    created_at: str


class OwnerNotice(Notice):
    read: bool


class NoticeSummary(TypedDict):
    """A notice as the feed lists it: its summary is the start of the body."""

    notice_id: str
    community_id: str
    title: str
    summary: str
    category: Category
    urgency: Urgency
    publish_at: str
    expires_at: str | None
    read: bool


class CommunityEvent(TypedDict):
    event_id: str
    community_id: str
    title: str
    description: str
    location: str
    starts_at: str
    ends_at: str
    capacity: int
    seats_left: int
    audience: Audience
    created_at: str


class OwnerEvent(CommunityEvent):
    signed_up: bool


class SignedUpEvent(OwnerEvent):
    """The event after the caller's sign-up, with that sign-up."""

    attendees: int
    signed_up_at: str


class Signup(TypedDict):
    """One owner's sign-up; the phone is masked."""

    event_id: str
    user_id: str
    name: str
    phone: str
    attendees: int
    signed_up_at: str


def audience_json(audience: domain.Audience) -> Audience:
    return Audience(**audience.as_json())  # type: ignore[typeddict-item]


@overload
def notice_json(notice: domain.Notice) -> Notice: ...


@overload
def notice_json(notice: domain.Notice, read: bool) -> OwnerNotice: ...


def notice_json(notice: domain.Notice, read: bool | None = None) -> Notice | OwnerNotice:
    out = Notice(notice_id=notice.notice_id, community_id=notice.community_id, title=notice.title,
                 body=notice.body, category=notice.category, urgency=notice.urgency,  # type: ignore[typeddict-item]
                 audience=audience_json(notice.audience), send_sms=notice.send_sms, publish_at=notice.publish_at,
                 expires_at=notice.expires_at, created_at=notice.created_at)
    return out if read is None else OwnerNotice(**out, read=read)


def feed_entry_json(entry: domain.FeedEntry, read: bool) -> NoticeSummary:
    return NoticeSummary(notice_id=entry.notice_id, community_id=entry.community_id, title=entry.title,
                         summary=entry.summary, category=entry.category,  # type: ignore[typeddict-item]
                         urgency=entry.urgency, publish_at=entry.publish_at,  # type: ignore[typeddict-item]
                         expires_at=entry.expires_at, read=read)


@overload
def event_json(event: domain.Event) -> CommunityEvent: ...


@overload
def event_json(event: domain.Event, signed_up: bool) -> OwnerEvent: ...


def event_json(event: domain.Event, signed_up: bool | None = None) -> CommunityEvent | OwnerEvent:
    # seats_left is never shown below zero (a capacity lowered under the seats taken)
    out = CommunityEvent(event_id=event.event_id, community_id=event.community_id, title=event.title,
                         description=event.description, location=event.location, starts_at=event.starts_at,
                         ends_at=event.ends_at, capacity=event.capacity, seats_left=max(event.seats_left, 0),
                         audience=audience_json(event.audience), created_at=event.created_at)
    return out if signed_up is None else OwnerEvent(**out, signed_up=signed_up)


def signup_json(signup: domain.Signup) -> Signup:
    return Signup(event_id=signup.event_id, user_id=signup.user_id, name=signup.name, phone=mask_phone(signup.phone),
                  attendees=signup.attendees, signed_up_at=signup.signed_up_at)


# -- notices --------------------------------------------------------------------------------------


@endpoint(body=NewNotice, response=Notice, status=201, errors=("not_found",))
def publish_notice(body: NewNotice) -> Notice:
    """Publish a notice to a community, or part of it, now or at `publish_at`."""
    cmd = domain.NewNotice(body.community_id, body.title, body.body, body.category, body.urgency,
                           send_sms=body.send_sms, publish_at=body.publish_at, expires_at=body.expires_at,
                           **_targets(body.audience))
    return notice_json(deps.notice_service().publish(principal(), cmd))


@endpoint(status=204)
def withdraw_notice(notice_id: str) -> None:
    """Withdraw a notice: it leaves every owner's feed."""
    deps.notice_service().withdraw(principal(), notice_id)


@endpoint(query=NoticesQuery, response=page_of(NoticeSummary), errors=("not_found",))
def list_notices(query: NoticesQuery) -> dict:
    """The notices addressed to the caller, published and not expired, newest first, with their read state."""
    list_id = f"notices:{query.category or ''}"
    position = start_of(query, list_id)
    before = position.get("before") if position else None
    items, cursor = deps.notice_service().feed(principal(), query.category, query.limit, before)
    return page_answer([feed_entry_json(e, read) for e, read in items], list_id,
                       {"before": cursor} if cursor else None)


@endpoint(response=OwnerNotice)
def get_notice(notice_id: str) -> OwnerNotice:
    """One notice addressed to the caller, in full."""
    notice, read = deps.notice_service().get(principal(), notice_id)
    return notice_json(notice, read)


@endpoint(status=204)
def read_notice(notice_id: str) -> None:
    """Mark a notice read (again: no change)."""
    deps.notice_service().mark_read(principal(), notice_id)


# -- events ---------------------------------------------------------------------------------------


@endpoint(body=NewEvent, response=CommunityEvent, status=201, errors=("not_found",))
def create_event(body: NewEvent) -> CommunityEvent:
    """Announce an event owners can sign up for, with a number of seats."""
    cmd = domain.NewEvent(body.community_id, body.title, body.description, body.location, body.starts_at,
                          body.ends_at, body.capacity, **_targets(body.audience))
    return event_json(deps.event_service().create(principal(), cmd))


@endpoint(query=PageQuery, response=page_of(Signup))
def list_signups(event_id: str, query: PageQuery) -> dict:
    """Who signed up for an event of the caller's communities."""
    list_id = f"signups:{event_id}"
    page = deps.event_service().signups(principal(), event_id, query.limit, start_of(query, list_id))
    return page_answer([signup_json(s) for s in page.items], list_id, page.last_key)


@endpoint(query=PageQuery, response=page_of(OwnerEvent), errors=("not_found",))
def list_events(query: PageQuery) -> dict:
    """Upcoming events addressed to the caller, soonest first, with seats left and the caller's sign-up."""
    position = start_of(query, "events")
    after = position.get("after") if position else None
    items, cursor = deps.event_service().upcoming(principal(), query.limit, after)
    return page_answer([event_json(e, mine) for e, mine in items], "events", {"after": cursor} if cursor else None)


@endpoint(body=NewSignup, response=SignedUpEvent, status=201,
          errors=("already_signed_up", "event_full", "event_started"))
def sign_up(event_id: str, body: NewSignup) -> SignedUpEvent:
    """Sign up for an upcoming event (seats are taken atomically: never more than its capacity)."""
    event, signup = deps.event_service().sign_up(principal(), event_id, body.attendees)
    return SignedUpEvent(**event_json(event, True), attendees=signup.attendees, signed_up_at=signup.signed_up_at)


@endpoint(status=204)
def cancel_signup(event_id: str) -> None:
    """Cancel the caller's sign-up: its seats are given back."""
    deps.event_service().cancel(principal(), event_id)
