"""Repairs and service requests (API.md §7): owners' requests and photos, staff dispatch, technicians' work."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain.repairs import (
    CLOSED_STATUSES,
    KINDS,
    MAX_PHOTO_BYTES,
    PHOTO_TYPES,
    STATUSES,
    WORK_STATUSES,
    NewRepair,
    PhotoView,
    Repair,
    RepairDetails,
)
from chalicelib.errors import field_error
from chalicelib.observability import mask_phone

GROUPS = ("open", "closed", "all")
# Every state change can lose a race with another writer (409 `conflict`) or be refused by the workflow.
_CHANGE_ERRORS = ("invalid_transition", "conflict")

Kind = Literal["repair", "housekeeping", "parcel", "other"]
Status = Literal["submitted", "assigned", "accepted", "in_progress", "completed", "cancelled", "rejected"]
ActorRole = Literal["owner", "staff", "technician", "admin"]
PhotoStatus = Literal["pending", "ready", "rejected"]
# Why a photo was refused: the file is larger than allowed, not a JPEG/PNG, not a readable image, or has more
# pixels (or, for a progressive JPEG, needs more decoding memory) than the processor accepts.
RejectReason = Literal["size", "content_type", "not_an_image", "too_many_pixels"]


# -- requests ---------------------------------------------------------------------------------------------


class NewRepairBody(v.Shape):
    unit_id = v.about(v.ident(), "One of the owner's units")
    kind = v.choice(KINDS)
    category = v.about(v.text(50), "For kind `repair`: plumbing, electrical, appliance, door_window, "
                                   "public_area or other")
    location = v.text(200)
    description = v.text(2000, multiline=True)
    preferred_time = v.about(v.text(100, required=False), "When the owner would like the visit, as free text")


class NewPhoto(v.Shape):
    content_type = v.choice(tuple(PHOTO_TYPES))
    size_bytes = v.about(v.integer(1, MAX_PHOTO_BYTES), "Size of the file that will be uploaded")


class Cancellation(v.Shape):
    reason = v.text(500, required=False, multiline=True)


class NewRating(v.Shape):
    stars = v.integer(1, 5)
    comment = v.text(500, required=False, multiline=True)


class Assignment(v.Shape):
    technician_id = v.about(v.ident(), "A technician of the request's community")
    eta = v.about(v.timestamp(), "When the technician is expected")


class Rejection(v.Shape):
    note = v.about(v.text(500, multiline=True), "Why the request is rejected (shown to the owner)")


class StatusChange(v.Shape):
    status = v.choice(WORK_STATUSES)
    note = v.text(500, required=False, multiline=True)


class OwnRepairsQuery(PageQuery):
    status = v.about(v.choice(GROUPS, required=False, default="all"), "open, closed or all (default)")


class AssignedRepairsQuery(PageQuery):
    status = v.about(v.choice(GROUPS, required=False, default="open"), "open (default), closed or all")


class StaffRepairsQuery(PageQuery):
    status = v.choice(STATUSES, required=False)
    community_id = v.about(v.ident(required=False),
                           "One of the caller's communities; required unless the caller has exactly one")


# -- answers ----------------------------------------------------------------------------------------------


class TimelineEntry(TypedDict):
    status: Status
    at: str
    actor_role: ActorRole
    note: NotRequired[str]


class RepairRating(TypedDict):
    stars: int
    comment: str | None
    at: str


class RepairSummary(TypedDict):
    repair_id: str
    unit_id: str
    community_id: str
    kind: Kind
    category: str
    location: str
    description: str
    status: Status
    created_at: str
    updated_at: str
    preferred_time: str | None
    eta: str | None
    closed: bool
    timeline: list[TimelineEntry]
    rating: NotRequired[RepairRating]


class RepairPhoto(TypedDict):
    photo_id: str
    status: PhotoStatus
    url: NotRequired[str]
    thumbnail_url: NotRequired[str]
    reason: NotRequired[RejectReason]  # rejected photos only


class Assignee(TypedDict):
    user_id: str
    name: str
    phone: str


class RepairDetail(RepairSummary):
    """A request as its owner, staff of its community and its technician see it."""

    photos: list[RepairPhoto]
    assignee: Assignee | None


class UploadForm(TypedDict):
    """A presigned S3 POST: send `fields` as form fields, then the file as `file`, to `url`."""

    url: str
    fields: dict[str, str]


class PhotoUploadTicket(TypedDict):
    photo_id: str
    status: PhotoStatus
    upload: UploadForm
    expires_in: int


def _timeline_entry(status: str, at: str, actor_role: str, note: str | None) -> TimelineEntry:
    entry = TimelineEntry(status=status, at=at, actor_role=actor_role)  # type: ignore[typeddict-item]
    if note:
        entry["note"] = note
    return entry


def repair_json(repair: Repair) -> RepairSummary:
    data = RepairSummary(
        repair_id=repair.repair_id, unit_id=repair.unit_id, community_id=repair.community_id,
        kind=repair.kind, category=repair.category, location=repair.location,  # type: ignore[typeddict-item]
        description=repair.description, status=repair.status, created_at=repair.created_at,  # type: ignore[typeddict-item]
        updated_at=repair.updated_at, preferred_time=repair.preferred_time, eta=repair.eta,
        closed=repair.status in CLOSED_STATUSES,
        timeline=[_timeline_entry(e.status, e.at, e.actor_role, e.note) for e in repair.timeline])
    if repair.rating:
        data["rating"] = RepairRating(stars=repair.rating.stars, comment=repair.rating.comment,
                                      at=repair.rating.at)
    return data


def _photo_json(view: PhotoView) -> RepairPhoto:
    photo = RepairPhoto(photo_id=view.photo_id, status=view.status)  # type: ignore[typeddict-item]
    if view.url:  # only ready photos have links (both of them)
        photo["url"], photo["thumbnail_url"] = view.url, view.thumbnail_url or ""
    if view.reason:
        photo["reason"] = view.reason  # type: ignore[typeddict-item]
    return photo


def details_json(details: RepairDetails) -> RepairDetail:
    assignee = details.assignee
    return RepairDetail(
        **repair_json(details.repair),
        photos=[_photo_json(p) for p in details.photos],
        assignee=Assignee(user_id=assignee.user_id, name=assignee.name,
                          phone=mask_phone(assignee.phone)) if assignee else None)


def _detail(repair_id: str) -> RepairDetail:
    return details_json(deps.repair_service().details(principal(), repair_id))


# -- owners ---------------------------------------------------------------------------------------------


@endpoint(body=NewRepairBody, response=RepairDetail, status=201, errors=("not_found",))
def create_repair(body: NewRepairBody) -> RepairDetail:
    """Open a repair or service request for one of the owner's units."""
    cmd = NewRepair(unit_id=body.unit_id, kind=body.kind, category=body.category, location=body.location,
                    description=body.description, preferred_time=body.preferred_time)
    return details_json(RepairDetails(deps.repair_service().submit(principal(), cmd)))


@endpoint(body=NewPhoto, response=PhotoUploadTicket, status=201, errors=("conflict", "too_many_photos"))
def add_photo(repair_id: str, body: NewPhoto) -> PhotoUploadTicket:
    """Register a photo of an open request and get a presigned POST to upload it straight to storage."""
    upload = deps.repair_service().add_photo(principal(), repair_id, body.content_type, body.size_bytes)
    return PhotoUploadTicket(photo_id=upload.photo.photo_id, status=upload.photo.status,  # type: ignore[typeddict-item]
                             upload=UploadForm(url=upload.url, fields=upload.fields), expires_in=upload.expires_in)


@endpoint(query=OwnRepairsQuery, response=page_of(RepairSummary))
def list_repairs(query: OwnRepairsQuery) -> dict:
    """The owner's requests, newest first, optionally only the open or the closed ones."""
    list_id = f"repairs:own:{query.status}"
    group = None if query.status == "all" else query.status
    page = deps.repair_service().list_own(principal(), group, query.limit, start_of(query, list_id))
    return page_answer([repair_json(r) for r in page.items], list_id, page.last_key)


@endpoint(response=RepairDetail)
def get_repair(repair_id: str) -> RepairDetail:
    """One request with its photos and assignee (for its owner, its community's staff or its technician)."""
    return _detail(repair_id)


@endpoint(body=Cancellation, response=RepairDetail, errors=_CHANGE_ERRORS)
def cancel_repair(repair_id: str, body: Cancellation) -> RepairDetail:
    """Cancel one of the owner's requests that is not yet being worked on."""
    deps.repair_service().cancel(principal(), repair_id, body.reason)
    return _detail(repair_id)


@endpoint(body=NewRating, response=RepairDetail, errors=(*_CHANGE_ERRORS, "already_rated"))
def rate_repair(repair_id: str, body: NewRating) -> RepairDetail:
    """Rate a completed request (once)."""
    deps.repair_service().rate(principal(), repair_id, body.stars, body.comment)
    return _detail(repair_id)


# -- staff and technicians ------------------------------------------------------------------------------


@endpoint(query=StaffRepairsQuery, response=page_of(RepairSummary), errors=("not_found",))
def staff_list_repairs(query: StaffRepairsQuery) -> dict:
    """Requests of one of the caller's communities, newest first, optionally of one status."""
    caller = principal()
    community_id = query.community_id
    if community_id is None:
        if len(caller.community_ids) != 1:
            raise field_error("community_id", "is required")
        (community_id,) = caller.community_ids
    list_id = f"repairs:community:{community_id}:{query.status or ''}"
    page = deps.repair_service().list_for_staff(caller, community_id, query.status, query.limit,
                                                start_of(query, list_id))
    return page_answer([repair_json(r) for r in page.items], list_id, page.last_key)


@endpoint(query=AssignedRepairsQuery, response=page_of(RepairSummary))
def list_assigned(query: AssignedRepairsQuery) -> dict:
    """Requests assigned to the caller, newest first (default: the open ones)."""
    list_id = f"repairs:assigned:{query.status}"
    group = None if query.status == "all" else query.status
    page = deps.repair_service().list_assigned(principal(), group, query.limit, start_of(query, list_id))
    return page_answer([repair_json(r) for r in page.items], list_id, page.last_key)


@endpoint(body=Assignment, response=RepairDetail, errors=_CHANGE_ERRORS)
def assign_repair(repair_id: str, body: Assignment) -> RepairDetail:
    """Dispatch a submitted request to a technician with an expected time (the owner gets an SMS)."""
    deps.repair_service().assign(principal(), repair_id, body.technician_id, body.eta)
    return _detail(repair_id)


@endpoint(body=Rejection, response=RepairDetail, errors=_CHANGE_ERRORS)
def reject_repair(repair_id: str, body: Rejection) -> RepairDetail:
    """Reject a request, with the reason shown to the owner."""
    deps.repair_service().reject(principal(), repair_id, body.note)
    return _detail(repair_id)


@endpoint(body=StatusChange, response=RepairDetail, errors=_CHANGE_ERRORS)
def set_repair_status(repair_id: str, body: StatusChange) -> RepairDetail:
    """Record the progress of the work: accepted, in progress or completed."""
    deps.repair_service().set_status(principal(), repair_id, body.status, body.note)
    return _detail(repair_id)
