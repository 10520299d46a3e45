"""Repairs and service requests (API.md §7): owners' requests and photos, staff dispatch, technicians' work."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import body
from chalicelib.api.http import created
from chalicelib.api.pagination import decode_cursor, page_body, page_params
from chalicelib.api.routing import OWNERS, STAFF_AND_TECHNICIANS, principal, route
from chalicelib.domain.repairs import (
    CLOSED_STATUSES,
    KINDS,
    MAX_PHOTO_BYTES,
    PHOTO_TYPES,
    STATUSES,
    WORK_STATUSES,
    NewRepair,
    Repair,
    RepairDetails,
)
from chalicelib.errors import field_error
from chalicelib.observability import mask_phone

bp = Blueprint(__name__)

GROUPS = ("open", "closed", "all")


def repair_json(repair: Repair) -> dict[str, Any]:
    data: dict[str, Any] = {
        "repair_id": repair.repair_id, "unit_id": repair.unit_id, "community_id": repair.community_id,
        "kind": repair.kind, "category": repair.category, "location": repair.location,
        "description": repair.description, "status": repair.status, "created_at": repair.created_at,
        "updated_at": repair.updated_at, "preferred_time": repair.preferred_time, "eta": repair.eta,
        "closed": repair.status in CLOSED_STATUSES,
        "timeline": [{"status": e.status, "at": e.at, "actor_role": e.actor_role,
                      **({"note": e.note} if e.note else {})} for e in repair.timeline],
    }
    if repair.rating:
        data["rating"] = {"stars": repair.rating.stars, "comment": repair.rating.comment, "at": repair.rating.at}
    return data


def details_json(details: RepairDetails) -> dict[str, Any]:
    data = repair_json(details.repair)
    data["photos"] = [{"photo_id": p.photo_id, "status": p.status,
                       **({"url": p.url, "thumbnail_url": p.thumbnail_url} if p.url else {})}
                      for p in details.photos]
    assignee = details.assignee
    data["assignee"] = {"user_id": assignee.user_id, "name": assignee.name,
                        "phone": mask_phone(assignee.phone)} if assignee else None
    return data


def _detail(repair_id: str) -> dict[str, Any]:
    return details_json(deps.repair_service().details(principal(), repair_id))


# -- owners ---------------------------------------------------------------------------------------------


@route(bp, "/repairs", ["POST"], roles=OWNERS)
def create_repair() -> Any:
    data = body(bp, {"unit_id": v.ident(), "kind": v.choice(KINDS), "category": v.text(50),
                     "location": v.text(200), "description": v.text(2000, multiline=True),
                     "preferred_time": v.text(100, required=False)})
    repair = deps.repair_service().submit(principal(), NewRepair(**data))
    return created(details_json(RepairDetails(repair)))


@route(bp, "/repairs/{repair_id}/photos", ["POST"], roles=OWNERS)
def add_photo(repair_id: str) -> Any:
    data = body(bp, {"content_type": v.choice(tuple(PHOTO_TYPES)), "size_bytes": v.integer(1, MAX_PHOTO_BYTES)})
    upload = deps.repair_service().add_photo(principal(), repair_id, data["content_type"], data["size_bytes"])
    return created({"photo_id": upload.photo.photo_id, "status": upload.photo.status,
                    "upload": {"url": upload.url, "fields": upload.fields}, "expires_in": upload.expires_in})


@route(bp, "/repairs", roles=OWNERS)
def list_repairs() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params, {"status": v.choice(GROUPS, required=False,
                                                                               default="all")})
    list_id = f"repairs:own:{params['status']}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    group = None if params["status"] == "all" else params["status"]
    page = deps.repair_service().list_own(caller, group, params["limit"], start)
    return page_body([repair_json(r) for r in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/repairs/{repair_id}")
def get_repair(repair_id: str) -> Any:
    return _detail(repair_id)


@route(bp, "/repairs/{repair_id}/cancel", ["POST"], roles=OWNERS)
def cancel_repair(repair_id: str) -> Any:
    data = body(bp, {"reason": v.text(500, required=False, multiline=True)})
    deps.repair_service().cancel(principal(), repair_id, data["reason"])
    return _detail(repair_id)


@route(bp, "/repairs/{repair_id}/rating", ["POST"], roles=OWNERS)
def rate_repair(repair_id: str) -> Any:
    data = body(bp, {"stars": v.integer(1, 5), "comment": v.text(500, required=False, multiline=True)})
    deps.repair_service().rate(principal(), repair_id, data["stars"], data["comment"])
    return _detail(repair_id)


# -- staff and technicians ------------------------------------------------------------------------------


@route(bp, "/staff/repairs")
def staff_list_repairs() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params, {"status": v.choice(STATUSES, required=False),
                                                           "community_id": v.ident(required=False)})
    community_id = params["community_id"]
    if community_id is None:
        if len(caller.community_ids) != 1:
            raise field_error("community_id", "is required")
        (community_id,) = caller.community_ids
    list_id = f"repairs:community:{community_id}:{params['status'] or ''}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    page = deps.repair_service().list_for_staff(caller, community_id, params["status"], params["limit"], start)
    return page_body([repair_json(r) for r in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/staff/repairs/assigned", roles=STAFF_AND_TECHNICIANS)
def list_assigned() -> Any:
    caller = principal()
    params = page_params(bp.current_request.query_params, {"status": v.choice(GROUPS, required=False,
                                                                               default="open")})
    list_id = f"repairs:assigned:{params['status']}"
    start = decode_cursor(params["cursor"], list_id, caller.user_id)
    group = None if params["status"] == "all" else params["status"]
    page = deps.repair_service().list_assigned(caller, group, params["limit"], start)
    return page_body([repair_json(r) for r in page.items], list_id, caller.user_id, page.last_key)


@route(bp, "/staff/repairs/{repair_id}/assign", ["POST"])
def assign_repair(repair_id: str) -> Any:
    data = body(bp, {"technician_id": v.ident(), "eta": v.timestamp()})
    deps.repair_service().assign(principal(), repair_id, data["technician_id"], data["eta"])
    return _detail(repair_id)


@route(bp, "/staff/repairs/{repair_id}/reject", ["POST"])
def reject_repair(repair_id: str) -> Any:
    data = body(bp, {"note": v.text(500, multiline=True)})
    deps.repair_service().reject(principal(), repair_id, data["note"])
    return _detail(repair_id)


@route(bp, "/staff/repairs/{repair_id}/status", ["POST"], roles=STAFF_AND_TECHNICIANS)
def set_repair_status(repair_id: str) -> Any:
    data = body(bp, {"status": v.choice(WORK_STATUSES), "note": v.text(500, required=False, multiline=True)})
    deps.repair_service().set_status(principal(), repair_id, data["status"], data["note"])
    return _detail(repair_id)
