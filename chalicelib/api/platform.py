"""Health, the caller's profile, community structure and account administration (API.md §4, §5, §11)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, TypedDict

from chalice import Response

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import (
    PROFILE_RESPONSE,
    Community,
    Profile,
    Role,
    Unit,
    community_json,
    profile_json,
    unit_json,
)
from chalicelib.api.contract import endpoint, page_of, request
from chalicelib.api.http import JSON
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal

if TYPE_CHECKING:  # the domain is imported by the views that need it: `health` stays light
    from chalicelib.domain import directory

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$")
ACCOUNT_HINT = "must be 3-32 letters, digits, dots, dashes or underscores"


class Health(TypedDict):
    status: Literal["ok"]


@endpoint(response=Health)
def health() -> Health:
    """Whether the API answers (for load balancers and the local stack)."""
    return Health(status="ok")


@endpoint(response=None, content="application/json")
def openapi() -> Response:
    """This API's OpenAPI 3.1 document, with the running stage's server URL."""
    from chalicelib.api.openapi import served
    from chalicelib.settings import get_settings

    event = request()
    context = event.context or {}
    host = event.headers.get("host") or context.get("domainName") or "127.0.0.1"
    stage = context.get("stage")
    if context.get("domainName") and stage and stage != "$default" and not host.startswith("127.0.0.1"):
        url = f"https://{host}/{stage}"
    else:
        url = f"{'https' if event.headers.get('x-forwarded-proto') == 'https' else 'http'}://{host}"
    document = served(url, f"stage {get_settings().stage}")
    return Response(body=document, status_code=200,
                    headers={"Content-Type": JSON, "Cache-Control": "public, max-age=300"})


# -- request shapes -------------------------------------------------------------------------------


class NewCommunity(v.Shape):
    """A community of the property company (admin)."""

    name = v.text(100)
    address = v.text(300)
    timezone = v.about(v.text(64, required=False), "An IANA time zone; default: Asia/Shanghai")


class NewBuilding(v.Shape):
    """A building of the community named in the path."""

    name = v.text(50)


class NewUnit(v.Shape):
    """A unit of a building."""

    community_id = v.about(v.ident(), "One of the caller's communities")
    building_id = v.about(v.ident(), "A building of that community")
    unit_no = v.about(v.text(20), "Unique in its building (case-insensitive)")
    floor = v.integer(-10, 200)
    area_m2 = v.decimal(2, Decimal("0.01"), Decimal("100000"))
    layout = v.about(v.text(50), "Free text, e.g. 3室2厅1卫")


class UnitsQuery(PageQuery):
    community_id = v.about(v.ident(), "One of the caller's communities")
    building_id = v.about(v.ident(required=False), "Only this building's units; default: the whole community")


class NewOwner(v.Shape):
    """An owner account for one or more units; its initial password is generated."""

    name = v.text(50)
    phone = v.about(v.phone(), "Not in use by another account")
    unit_ids = v.about(v.id_list(1, 20), "Units of the caller's communities")
    account = v.about(v.text(32, required=False, pattern=ACCOUNT_NAME, pattern_hint=ACCOUNT_HINT),
                      "The login name; default: the phone's national number")
    email = v.email()


class NewStaffUser(v.Shape):
    """A staff, technician or admin account (admin); its initial password is generated."""

    name = v.text(50)
    phone = v.about(v.phone(), "Not in use by another account")
    role = v.choice(("staff", "technician", "admin"))
    account = v.about(v.text(32, pattern=ACCOUNT_NAME, pattern_hint=ACCOUNT_HINT), "The login name")
    community_ids = v.about(v.id_list(0, 50, required=False),
                            "The communities the account works for: required for staff and technicians")


# -- answers --------------------------------------------------------------------------------------


class Building(TypedDict):
    building_id: str
    community_id: str
    name: str
    created_at: str


class IssuedAccount(TypedDict):
    """A new account and its one-time initial password (shown this once; changed at first login)."""

    user_id: str
    account: str
    role: Role
    name: str
    initial_password: str
    must_change_password: bool


class InitialPassword(TypedDict):
    initial_password: str


# -- the caller -----------------------------------------------------------------------------------


@endpoint(response=PROFILE_RESPONSE, errors=("not_found",))
def me() -> Profile:
    """The caller's own profile: an owner's with their units, staff's with their communities."""
    return profile_json(deps.directory().profile(principal()), own=True)


# -- community structure --------------------------------------------------------------------------


@endpoint(body=NewCommunity, response=Community, status=201)
def create_community(body: NewCommunity) -> Community:
    """Create a community (admin)."""
    community = deps.directory().create_community(principal(), body.name, body.address, body.timezone)
    return community_json(community)


@endpoint(body=NewBuilding, response=Building, status=201)
def create_building(community_id: str, body: NewBuilding) -> Building:
    """Add a building to one of the caller's communities."""
    building = deps.directory().create_building(principal(), community_id, body.name)
    return Building(building_id=building.building_id, community_id=building.community_id, name=building.name,
                    created_at=building.created_at)


@endpoint(body=NewUnit, response=Unit, status=201, errors=("not_found", "conflict"))
def create_unit(body: NewUnit) -> Unit:
    """Add a unit to a building of one of the caller's communities."""
    from chalicelib.domain import directory

    return unit_json(deps.directory().create_unit(principal(), directory.NewUnit(**body.as_dict())))


@endpoint(query=UnitsQuery, response=page_of(Unit), errors=("not_found",))
def list_units(query: UnitsQuery) -> dict:
    """The units of one of the caller's communities, or of one of its buildings."""
    list_id = f"units:{query.community_id}:{query.building_id or ''}"
    page = deps.directory().list_units(principal(), query.community_id, query.building_id, query.limit,
                                       start_of(query, list_id))
    return page_answer([unit_json(u) for u in page.items], list_id, page.last_key)


# -- accounts -------------------------------------------------------------------------------------


def _issued(issued: directory.IssuedAccount) -> IssuedAccount:
    account = issued.account
    return IssuedAccount(user_id=account.user_id, account=account.account, role=account.role, name=account.name,
                         initial_password=issued.initial_password, must_change_password=True)


@endpoint(body=NewOwner, response=IssuedAccount, status=201, errors=("not_found", "conflict"))
def create_owner(body: NewOwner) -> IssuedAccount:
    """Issue an owner account for units of the caller's communities."""
    from chalicelib.domain import directory

    return _issued(deps.directory().create_owner(principal(), directory.NewOwner(**body.as_dict())))


@endpoint(body=NewStaffUser, response=IssuedAccount, status=201, errors=("not_found", "conflict"))
def create_user(body: NewStaffUser) -> IssuedAccount:
    """Issue a staff, technician or admin account (admin)."""
    from chalicelib.domain import directory

    fields = {**body.as_dict(), "community_ids": body.community_ids or ()}
    return _issued(deps.directory().create_user(principal(), directory.NewStaffUser(**fields)))


@endpoint(status=204)
def unlock(user_id: str) -> None:
    """Unlock an account locked by failed logins."""
    deps.directory().unlock(principal(), user_id)


@endpoint(response=InitialPassword, errors=("cannot_reset_self",))
def reset_password(user_id: str) -> InitialPassword:
    """Give an account a one-time initial password.

    Ends its sessions and distrusts its devices. Never the caller's own account: 409 `cannot_reset_self`
    (use `POST /auth/password`).
    """
    return InitialPassword(initial_password=deps.directory().reset_password(principal(), user_id))
