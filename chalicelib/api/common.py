"""Small helpers shared by the blueprints: reading the request into validated values, presenting entities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.validation import Field, parse_json_object, validate, validate_query
from chalicelib.observability import mask_phone

if TYPE_CHECKING:  # the domain is imported when a request needs it, not on the cold path
    from chalicelib.domain.model import Account, Community, Unit, UnitView


def body(bp: Blueprint, spec: dict[str, Field], *, patch: bool = False) -> dict[str, Any]:
    """The validated JSON body; with `patch`, `null` clears a nullable field and is refused for the others."""
    return validate(parse_json_object(bp.current_request.raw_body), spec, patch=patch)


def query(bp: Blueprint, spec: dict[str, Field]) -> dict[str, Any]:
    return validate_query(bp.current_request.query_params, spec)


def client_ip(bp: Blueprint) -> str:
    from chalicelib.api.middleware import source_ip

    return source_ip(bp.current_request)


def unit_view_json(unit: UnitView) -> dict[str, Any]:
    return {"unit_id": unit.unit_id, "community_id": unit.community_id, "community_name": unit.community_name,
            "building_id": unit.building_id, "building_name": unit.building_name, "unit_no": unit.unit_no,
            "floor": unit.floor, "area_m2": unit.area_m2, "layout": unit.layout}


def unit_json(unit: Unit) -> dict[str, Any]:
    return {"unit_id": unit.unit_id, "community_id": unit.community_id, "building_id": unit.building_id,
            "unit_no": unit.unit_no, "floor": unit.floor, "area_m2": unit.area_m2, "layout": unit.layout,
            "owner_count": len(unit.owner_ids), "created_at": unit.created_at}


def community_json(community: Community) -> dict[str, Any]:
    return {"community_id": community.community_id, "name": community.name, "address": community.address,
            "timezone": community.timezone, "created_at": community.created_at}


def profile_json(account: Account, *, own: bool) -> dict[str, Any]:
    """The profile of API.md §5; the phone is shown in full only to its owner."""
    profile: dict[str, Any] = {
        "user_id": account.user_id, "role": account.role, "name": account.name, "account": account.account,
        "phone": account.phone if own else mask_phone(account.phone), "email": account.email,
        "tags": sorted(account.tags), "notification_prefs": account.notification_prefs,
        "must_change_password": account.must_change_password,
    }
    if account.role == "owner":
        profile["units"] = [unit_view_json(u) for u in account.units]
    else:
        profile["community_ids"] = sorted(account.community_ids)
    return profile
