"""`GET /home` (API.md §10): the owner's first screen in one round trip.

The four parts are independent reads of four areas, so they run in parallel: the answer takes about as long
as the slowest part, not the sum of them.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from chalicelib import deps
from chalicelib.api.contract import endpoint
from chalicelib.api.routing import principal
from chalicelib.domain.model import Role

HOME_ITEMS = 3

# The home screen's parts have the shapes of the notices, repairs and events areas' answers; they are declared
# here under `Home*` names so the document's component names stay unique whichever area declares its own.
# The enums repeat the domain's vocabularies (a type checker needs them spelled out); a unit test keeps them equal.
NoticeCategory = Literal["outage", "elevator", "maintenance", "news", "activity", "general"]
Tag = Literal["pet_owner", "elderly", "has_children", "car_owner", "tenant_landlord"]
RepairStatus = Literal["submitted", "assigned", "accepted", "in_progress", "completed", "cancelled", "rejected"]


class HomeUnpaid(TypedDict):
    count: int
    total_cents: int
    overdue_count: int


class HomeNotice(TypedDict):
    notice_id: str
    community_id: str
    title: str
    summary: str
    category: NoticeCategory
    urgency: Literal["normal", "urgent"]
    publish_at: str
    expires_at: str | None
    read: bool


class HomeRepairStep(TypedDict):
    status: RepairStatus
    at: str
    actor_role: Role
    note: NotRequired[str]  # only when the step has one


class HomeRepairRating(TypedDict):
    stars: int
    comment: str | None
    at: str


class HomeRepair(TypedDict):
    repair_id: str
    unit_id: str
    community_id: str
    kind: Literal["repair", "housekeeping", "parcel", "other"]
    category: str
    location: str
    description: str
    status: RepairStatus
    created_at: str
    updated_at: str
    preferred_time: str | None
    eta: str | None
    closed: bool
    timeline: list[HomeRepairStep]
    rating: NotRequired[HomeRepairRating]  # once the owner has rated it


class HomeAudience(TypedDict):
    building_ids: list[str]
    tags: list[Tag]


class HomeEvent(TypedDict):
    event_id: str
    community_id: str
    title: str
    description: str
    location: str
    starts_at: str
    ends_at: str
    capacity: int
    seats_left: int
    audience: HomeAudience
    created_at: str
    signed_up: bool


class Home(TypedDict):
    unpaid: HomeUnpaid
    notices: list[HomeNotice]
    repairs: list[HomeRepair]
    events: list[HomeEvent]


@endpoint(response=Home)
def home() -> Home:
    """The owner's first screen: open bills, unread notices, open repairs and upcoming events."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.api.notices import event_json, feed_entry_json
    from chalicelib.api.repairs import repair_json

    caller = principal()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="home") as pool:
        def part(fn: Any, *args: Any) -> Any:
            # each part runs in a copy of the request's context (correlation id, request info)
            return pool.submit(contextvars.copy_context().run, fn, *args)

        unpaid = part(deps.billing().summary, caller)
        notices = part(deps.notice_service().unread, caller.user_id, HOME_ITEMS)
        repairs = part(deps.repair_service().list_own, caller, "open", HOME_ITEMS, None)
        events = part(deps.event_service().upcoming_for, caller.user_id, HOME_ITEMS)
        summary = unpaid.result()
        return Home(
            unpaid=HomeUnpaid(count=summary.unpaid_count, total_cents=summary.unpaid_total_cents,
                              overdue_count=summary.overdue_count),
            notices=[feed_entry_json(entry, False) for entry in notices.result()[:HOME_ITEMS]],  # type: ignore[misc]
            repairs=[repair_json(repair) for repair in repairs.result().items],  # type: ignore[misc]
            events=[event_json(event, signed_up) for event, signed_up in events.result()[:HOME_ITEMS]],  # type: ignore[misc]
        )
