"""The owner's household members and their door access (API.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain.household import Member, NewMember
from chalicelib.observability import mask_phone


class NewHouseholdMember(v.Shape):
    """A member of one of the caller's units, with or without door access."""

    unit_id = v.about(v.ident(), "One of the caller's units")
    name = v.text(30)
    relation = v.text(20)
    phone = v.phone(required=False)
    access = v.about(v.boolean(required=True), "Whether the door system lets the member in")
    access_until = v.about(v.date_field(required=False),
                           "Last day of door access (community time zone, not in the past); only with `access: "
                           "true`; default: no end")


class HouseholdMember(TypedDict):
    member_id: str
    unit_id: str
    name: str
    relation: str
    phone: str | None  # masked (`+86 138****8000`), even to the owner
    access_granted: bool  # as of now: a lapsed grant is no longer granted
    access_until: str | None  # YYYY-MM-DD, the last day of access; null: no end (or no access)
    created_at: str


def member_json(member: Member, now: datetime) -> HouseholdMember:
    # Household members' phones are shown masked even to the owner, like every phone but the owner's own.
    return HouseholdMember(member_id=member.member_id, unit_id=member.unit_id, name=member.name,
                           relation=member.relation, phone=mask_phone(member.phone) if member.phone else None,
                           access_granted=member.access_granted(now), access_until=member.access_until,
                           created_at=member.created_at)


@endpoint(query=PageQuery, response=page_of(HouseholdMember))
def list_household(query: PageQuery) -> dict[str, Any]:
    """The household members of the caller's units (co-owners of a unit share its household)."""
    page = deps.household().list(principal(), query.limit, start_of(query, "household"))
    now = datetime.now(UTC)
    return page_answer([member_json(m, now) for m in page.items], "household", page.last_key)


@endpoint(body=NewHouseholdMember, response=HouseholdMember, status=201, errors=("not_found",))
def add_member(body: NewHouseholdMember) -> HouseholdMember:
    """Add a household member to one of the caller's units, granting door access if asked."""
    member = deps.household().add(principal(), NewMember(**body.as_dict()))
    return member_json(member, datetime.now(UTC))


@endpoint(status=204, errors=("conflict",))
def remove_member(member_id: str) -> None:
    """Remove a household member; an active door access is revoked first."""
    deps.household().remove(principal(), member_id)
