"""`GET /home` (API.md §10): the owner's first screen in one round trip.

The four parts are independent reads of four areas, so they run in parallel: the answer takes about as long
as the slowest part, not the sum of them.
"""

from __future__ import annotations

from typing import Any, TypedDict

from chalicelib import deps
from chalicelib.api.contract import endpoint
from chalicelib.api.notices import NoticeSummary, OwnerEvent, event_json, feed_entry_json
from chalicelib.api.repairs import RepairSummary, repair_json
from chalicelib.api.routing import principal

HOME_ITEMS = 3


class HomeUnpaid(TypedDict):
    count: int
    total_cents: int
    overdue_count: int


class Home(TypedDict):
    """The parts have the shapes the notices, repairs and events lists answer."""

    unpaid: HomeUnpaid
    notices: list[NoticeSummary]
    repairs: list[RepairSummary]
    events: list[OwnerEvent]


@endpoint(response=Home)
def home() -> Home:
    """The owner's first screen: open bills, unread notices, open repairs and upcoming events."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

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
            notices=[feed_entry_json(entry, False) for entry in notices.result()[:HOME_ITEMS]],
            repairs=[repair_json(repair) for repair in repairs.result().items],
            events=[event_json(event, signed_up) for event, signed_up in events.result()[:HOME_ITEMS]],
        )
