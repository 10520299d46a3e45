"""`GET /home` (API.md §10): the owner's first screen in one round trip.

The four parts are independent reads of four areas, so they run in parallel: the answer takes about as long
as the slowest part, not the sum of them.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api.common import body
from chalicelib.api.routing import OWNERS, principal, route

bp = Blueprint(__name__)

HOME_ITEMS = 3


@route(bp, "/home", roles=OWNERS)
def home() -> Any:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.api.notices import event_json, feed_entry_json
    from chalicelib.api.repairs import repair_json

    body(bp, {})
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
        return {
            "unpaid": {"count": summary.unpaid_count, "total_cents": summary.unpaid_total_cents,
                       "overdue_count": summary.overdue_count},
            "notices": [feed_entry_json(entry, False) for entry in notices.result()[:HOME_ITEMS]],
            "repairs": [repair_json(repair) for repair in repairs.result().items],
            "events": [event_json(event, signed_up) for event, signed_up in events.result()[:HOME_ITEMS]],
        }
