"""Health, the caller's profile, community structure and account administration (API.md §4, §5, §11)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body, community_json, profile_json, unit_json
from chalicelib.api.contract import endpoint, request
from chalicelib.api.http import JSON, created, no_content
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import ADMIN, principal, route

if TYPE_CHECKING:
    from chalicelib.domain.directory import IssuedAccount

bp = Blueprint(__name__)

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$")


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


@route(bp, "/me", allow_password_change=True)
def me() -> dict[str, Any]:
    return profile_json(deps.directory().profile(principal()), own=True)


@route(bp, "/staff/communities", ["POST"], roles=ADMIN)
def create_community() -> Any:
    data = body(bp, {"name": v.text(100), "address": v.text(300), "timezone": v.text(64, required=False)})
    community = deps.directory().create_community(principal(), data["name"], data["address"], data["timezone"])
    return created(community_json(community))


@route(bp, "/staff/communities/{community_id}/buildings", ["POST"])
def create_building(community_id: str) -> Any:
    data = body(bp, {"name": v.text(50)})
    building = deps.directory().create_building(principal(), community_id, data["name"])
    return created({"building_id": building.building_id, "community_id": building.community_id,
                    "name": building.name, "created_at": building.created_at})


@route(bp, "/staff/units", ["POST"])
def create_unit() -> Any:
    data = body(bp, {
        "community_id": v.ident(), "building_id": v.ident(), "unit_no": v.text(20),
        "floor": v.integer(-10, 200), "area_m2": v.decimal(2, Decimal("0.01"), Decimal("100000")),
        "layout": v.text(50),
    })
    from chalicelib.domain.directory import NewUnit

    unit = deps.directory().create_unit(principal(), NewUnit(**data))
    return created(unit_json(unit))


@route(bp, "/staff/units")
def list_units() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params,
                         {"community_id": v.ident(), "building_id": v.ident(required=False)})
    list_id = f"units:{params['community_id']}:{params['building_id'] or ''}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.directory().list_units(caller, params["community_id"], params["building_id"], params["limit"], start)
    return page_body([unit_json(u) for u in page.items], list_id, caller.user_id, page.last_key)


def _issued(issued: IssuedAccount) -> Any:
    account = issued.account
    return created({"user_id": account.user_id, "account": account.account, "role": account.role,
                    "name": account.name, "initial_password": issued.initial_password,
                    "must_change_password": True})


@route(bp, "/staff/owners", ["POST"])
def create_owner() -> Any:
    data = body(bp, {"name": v.text(50), "phone": v.phone(), "unit_ids": v.id_list(1, 20),
                     "account": v.text(32, required=False, pattern=ACCOUNT_NAME,
                                       pattern_hint="must be 3-32 letters, digits, dots, dashes or underscores"),
                     "email": v.email()})
    from chalicelib.domain.directory import NewOwner

    return _issued(deps.directory().create_owner(principal(), NewOwner(**data)))


@route(bp, "/staff/users", ["POST"], roles=ADMIN)
def create_user() -> Any:
    data = body(bp, {"name": v.text(50), "phone": v.phone(), "role": v.choice(("staff", "technician", "admin")),
                     "account": v.text(32, pattern=ACCOUNT_NAME,
                                       pattern_hint="must be 3-32 letters, digits, dots, dashes or underscores"),
                     "community_ids": v.id_list(0, 50, required=False)})
    data["community_ids"] = data["community_ids"] or ()
    from chalicelib.domain.directory import NewStaffUser

    return _issued(deps.directory().create_user(principal(), NewStaffUser(**data)))


@route(bp, "/staff/accounts/{user_id}/unlock", ["POST"])
def unlock(user_id: str) -> Any:
    body(bp, {})
    deps.directory().unlock(principal(), user_id)
    return no_content()


@route(bp, "/staff/accounts/{user_id}/reset-password", ["POST"])
def reset_password(user_id: str) -> Any:
    """Give an account a one-time initial password.

    Ends its sessions and distrusts its devices. Never the caller's own account: 409 `cannot_reset_self`
    (use `POST /auth/password`).
    """
    body(bp, {})
    return {"initial_password": deps.directory().reset_password(principal(), user_id)}

