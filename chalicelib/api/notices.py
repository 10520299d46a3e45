"""Notices, news and events (API.md §8). `GET /home` is built elsewhere from `NoticeService.unread` and
`EventService.upcoming_for`."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created, no_content
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, principal, route
from chalicelib.domain.model import TAGS
from chalicelib.domain.notices import (
    CATEGORIES,
    MAX_ATTENDEES,
    URGENCIES,
    Event,
    FeedEntry,
    NewEvent,
    NewNotice,
    Notice,
    Signup,
)
from chalicelib.errors import ValidationFailed
from chalicelib.observability import mask_phone

bp = Blueprint(__name__)

_AUDIENCE = {"building_ids": v.id_list(0, 50, required=False), "tags": v.id_list(0, len(TAGS), required=False)}


def _audience_field() -> v.Field:
    def parse(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise v.FieldProblem("must be an object with building_ids and/or tags")
        try:
            return v.validate(value, _AUDIENCE)
        except ValidationFailed as error:
            problems = (error.details or {}).get("fields", {})
            raise v.FieldProblem("; ".join(f"{k} {p}" for k, p in problems.items())) from None

    return v.Field(parse, required=False, default={"building_ids": None, "tags": None})


def _targets(audience: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {"building_ids": tuple(audience.get("building_ids") or ()), "tags": tuple(audience.get("tags") or ())}


def notice_json(notice: Notice, read: bool | None = None) -> dict[str, Any]:
    out = {"notice_id": notice.notice_id, "community_id": notice.community_id, "title": notice.title,
           "body": notice.body, "category": notice.category, "urgency": notice.urgency,
           "audience": notice.audience.as_json(), "send_sms": notice.send_sms, "publish_at": notice.publish_at,
           "expires_at": notice.expires_at, "created_at": notice.created_at}
    if read is not None:
        out["read"] = read
    return out


def feed_entry_json(entry: FeedEntry, read: bool) -> dict[str, Any]:
    return {"notice_id": entry.notice_id, "community_id": entry.community_id, "title": entry.title,
            "summary": entry.summary, "category": entry.category, "urgency": entry.urgency,
            "publish_at": entry.publish_at, "expires_at": entry.expires_at, "read": read}


def event_json(event: Event, signed_up: bool | None = None) -> dict[str, Any]:
    out = {"event_id": event.event_id, "community_id": event.community_id, "title": event.title,
           "description": event.description, "location": event.location, "starts_at": event.starts_at,
           "ends_at": event.ends_at, "capacity": event.capacity, "seats_left": max(event.seats_left, 0),
           "audience": event.audience.as_json(), "created_at": event.created_at}
    if signed_up is not None:
        out["signed_up"] = signed_up
    return out


def signup_json(signup: Signup) -> dict[str, Any]:
    return {"event_id": signup.event_id, "user_id": signup.user_id, "name": signup.name,
            "phone": mask_phone(signup.phone), "attendees": signup.attendees, "signed_up_at": signup.signed_up_at}


# -- notices --------------------------------------------------------------------------------------


@route(bp, "/staff/notices", ["POST"])
def publish_notice() -> Any:
    data = body(bp, {"community_id": v.ident(), "title": v.text(100), "body": v.text(5000, multiline=True),
                     "category": v.choice(CATEGORIES), "urgency": v.choice(URGENCIES, required=False, default="normal"),
                     "audience": _audience_field(), "send_sms": v.boolean(default=False),
                     "publish_at": v.timestamp(required=False), "expires_at": v.timestamp(required=False)})
    cmd = NewNotice(data["community_id"], data["title"], data["body"], data["category"], data["urgency"],
                    send_sms=data["send_sms"], publish_at=data["publish_at"], expires_at=data["expires_at"],
                    **_targets(data["audience"]))
    return created(notice_json(deps.notice_service().publish(principal(), cmd)))


@route(bp, "/staff/notices/{notice_id}", ["DELETE"])
def withdraw_notice(notice_id: str) -> Any:
    deps.notice_service().withdraw(principal(), notice_id)
    return no_content()


@route(bp, "/notices", roles=OWNERS)
def list_notices() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params, {"category": v.choice(CATEGORIES, required=False)})
    list_id = f"notices:{params['category'] or ''}"
    position = decode_cursor(params["cursor"], list_id, caller.user_id)
    before = position.get("before") if position else None
    items, cursor = deps.notice_service().feed(caller, params["category"], params["limit"], before)
    return page_body([feed_entry_json(e, read) for e, read in items], list_id, caller.user_id,
                     {"before": cursor} if cursor else None)


@route(bp, "/notices/{notice_id}", roles=OWNERS)
def get_notice(notice_id: str) -> Any:
    notice, read = deps.notice_service().get(principal(), notice_id)
    return notice_json(notice, read)


@route(bp, "/notices/{notice_id}/read", ["POST"], roles=OWNERS)
def read_notice(notice_id: str) -> Any:
    body(bp, {})
    deps.notice_service().mark_read(principal(), notice_id)
    return no_content()


# -- events ---------------------------------------------------------------------------------------


@route(bp, "/staff/events", ["POST"])
def create_event() -> Any:
    data = body(bp, {"community_id": v.ident(), "title": v.text(100), "description": v.text(5000, multiline=True),
                     "location": v.text(200), "starts_at": v.timestamp(), "ends_at": v.timestamp(),
                     "capacity": v.integer(1, 10000), "audience": _audience_field()})
    cmd = NewEvent(data["community_id"], data["title"], data["description"], data["location"], data["starts_at"],
                   data["ends_at"], data["capacity"], **_targets(data["audience"]))
    return created(event_json(deps.event_service().create(principal(), cmd)))


@route(bp, "/staff/events/{event_id}/signups")
def list_signups(event_id: str) -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    list_id = f"signups:{event_id}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.event_service().signups(caller, event_id, params["limit"], start)
    return page_body([signup_json(s) for s in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/events", roles=OWNERS)
def list_events() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    position = decode_cursor(params["cursor"], "events", caller.user_id)
    after = position.get("after") if position else None
    items, cursor = deps.event_service().upcoming(caller, params["limit"], after)
    return page_body([event_json(e, mine) for e, mine in items], "events", caller.user_id,
                     {"after": cursor} if cursor else None)


@route(bp, "/events/{event_id}/signup", ["POST"], roles=OWNERS)
def sign_up(event_id: str) -> Any:
    data = body(bp, {"attendees": v.integer(1, MAX_ATTENDEES, required=False, default=1)})
    event, signup = deps.event_service().sign_up(principal(), event_id, data["attendees"])
    return created({**event_json(event, True), "attendees": signup.attendees, "signed_up_at": signup.signed_up_at})


@route(bp, "/events/{event_id}/signup", ["DELETE"], roles=OWNERS)
def cancel_signup(event_id: str) -> Any:
    deps.event_service().cancel(principal(), event_id)
    return no_content()
