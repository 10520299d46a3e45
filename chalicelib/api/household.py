"""The owner's household members and their door access (API.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created, no_content
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, principal, route
from chalicelib.domain.household import Member, NewMember
from chalicelib.observability import mask_phone

bp = Blueprint(__name__)


def member_json(member: Member, now: datetime) -> dict[str, Any]:
    # Household members' phones are shown masked even to the owner, like every phone but the owner's own.
    return {"member_id": member.member_id, "unit_id": member.unit_id, "name": member.name,
            "relation": member.relation, "phone": mask_phone(member.phone) if member.phone else None,
            "access_granted": member.access_granted(now), "access_until": member.access_until,
            "created_at": member.created_at}


@route(bp, "/me/household", roles=OWNERS)
def list_household() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params)
    start = decode_cursor(params["cursor"], "household", caller.user_id)
    page = deps.household().list(caller, params["limit"], start)
    now = datetime.now(UTC)
    return page_body([member_json(m, now) for m in page.items], "household", caller.user_id, page.last_key)


@route(bp, "/me/household", ["POST"], roles=OWNERS)
def add_member() -> Any:
    data = body(bp, {"unit_id": v.ident(), "name": v.text(30), "relation": v.text(20),
                     "phone": v.phone(required=False), "access": v.boolean(required=True),
                     "access_until": v.date_field(required=False)})
    member = deps.household().add(principal(), NewMember(**data))
    return created(member_json(member, datetime.now(UTC)))


@route(bp, "/me/household/{member_id}", ["DELETE"], roles=OWNERS)
def remove_member(member_id: str) -> Any:
    deps.household().remove(principal(), member_id)
    return no_content()
