"""`GET /home` (API.md §10): the owner's first screen in one round trip.

The reads run one after the other, in a fixed number of DynamoDB calls whatever the owner has (see
`domain.home`): no thread pool per request.
"""

from __future__ import annotations

from typing import TypedDict

from chalicelib import deps
from chalicelib.api.contract import endpoint
from chalicelib.api.notices import NoticeSummary, OwnerEvent, event_json, feed_entry_json
from chalicelib.api.repairs import RepairSummary, repair_json
from chalicelib.api.routing import principal
from chalicelib.domain.home import HOME_ITEMS


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
    answer = deps.home_service().home(principal(), HOME_ITEMS)
    return Home(
        unpaid=HomeUnpaid(count=answer.unpaid.unpaid_count, total_cents=answer.unpaid.unpaid_total_cents,
                          overdue_count=answer.unpaid.overdue_count),
        notices=[feed_entry_json(entry, False) for entry in answer.notices],
        repairs=[repair_json(repair) for repair in answer.repairs],
        events=[event_json(event, signed_up) for event, signed_up in answer.events],
    )
