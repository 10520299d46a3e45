"""Repairs and service requests (API.md §7): the state machine, who may do what, and the service around it.

Pure Python: storage, uploads and the jobs queue are ports (`RepairRepository`, `UploadSigner`, `JobQueue`).
Every change of a request is one conditional write on its version, so of two concurrent changes exactly one
wins and the other is a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog, CommunityRepository, Page
from chalicelib.errors import Conflict, NotFound, field_error
from chalicelib.names import REPAIR_SMS_JOB

KINDS = ("repair", "housekeeping", "parcel", "other")
REPAIR_CATEGORIES = ("plumbing", "electrical", "appliance", "door_window", "public_area", "other")
OPEN_STATUSES = ("submitted", "assigned", "accepted", "in_progress")
CLOSED_STATUSES = ("completed", "cancelled", "rejected")
STATUSES = OPEN_STATUSES + CLOSED_STATUSES
WORK_STATUSES = ("accepted", "in_progress", "completed")  # what `POST /staff/repairs/{id}/status` may set
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png"}
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 10 * 1024 * 1024
UPLOAD_EXPIRES_IN = 600
PHOTO_URL_EXPIRES_IN = 300

Actor = Literal["owner", "staff", "assignee"]
Group = Literal["open", "closed"]

# (from, to) → who may make the move. Anything not listed is an invalid transition.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("submitted", "assigned"): frozenset({"staff"}),
    ("assigned", "accepted"): frozenset({"staff", "assignee"}),
    ("accepted", "in_progress"): frozenset({"staff", "assignee"}),
    ("in_progress", "completed"): frozenset({"staff", "assignee"}),
    # The owner may cancel until work starts; staff may refuse a request until work starts.
    **{(s, "cancelled"): frozenset({"owner"}) for s in ("submitted", "assigned", "accepted")},
    **{(s, "rejected"): frozenset({"staff"}) for s in ("submitted", "assigned", "accepted")},
}


def group_of(status: str) -> Group:
    return "open" if status in OPEN_STATUSES else "closed"


@dataclass(frozen=True)
class TimelineEntry:
    status: str
    at: str
    actor_role: str
    note: str | None = None


@dataclass(frozen=True)
class Rating:
    stars: int
    at: str
    comment: str | None = None


@dataclass(frozen=True)
class Repair:
    repair_id: str
    owner_id: str
    unit_id: str
    community_id: str
    kind: str
    category: str
    location: str
    description: str
    status: str
    created_at: str
    updated_at: str
    timeline: tuple[TimelineEntry, ...]
    version: int = 1
    preferred_time: str | None = None
    assignee_id: str | None = None
    eta: str | None = None
    rating: Rating | None = None

    @property
    def group(self) -> Group:
        return group_of(self.status)


@dataclass(frozen=True)
class Photo:
    repair_id: str
    photo_id: str
    content_type: str
    upload_key: str
    status: str  # pending | ready | rejected
    created_at: str
    processed_key: str | None = None
    thumbnail_key: str | None = None
    reason: str | None = None


def can_move(status: str, target: str, actor: Actor) -> bool:
    return actor in TRANSITIONS.get((status, target), frozenset())


def move(repair: Repair, target: str, actor: Actor, actor_role: str, at: str, note: str | None = None,
         **changes: Any) -> Repair:
    """The request after `actor` moves it to `target`, plus a timeline entry; else 409 `invalid_transition`."""
    if not can_move(repair.status, target, actor):
        raise Conflict(f"A request that is {repair.status} cannot become {target}.", code="invalid_transition",
                       details={"from": repair.status, "to": target})
    if target == "rejected" and not note:
        raise field_error("note", "is required")
    entry = TimelineEntry(target, at, actor_role, note)
    return replace(repair, status=target, updated_at=at, timeline=(*repair.timeline, entry),
                   version=repair.version + 1, **changes)


def rate(repair: Repair, stars: int, comment: str | None, at: str) -> Repair:
    if repair.status != "completed":
        raise Conflict("Only a completed request can be rated.", code="invalid_transition",
                       details={"from": repair.status})
    if repair.rating is not None:
        raise Conflict("This request has already been rated.", code="already_rated")
    return replace(repair, rating=Rating(stars, at, comment), updated_at=at, version=repair.version + 1)


# -- ports ------------------------------------------------------------------------------------------------


class RepairRepository(Protocol):
    def create(self, repair: Repair) -> None: ...

    def get(self, repair_id: str) -> Repair | None: ...

    def update(self, before: Repair, after: Repair) -> None:
        """Store `after` if the stored version is still `before.version`; else raise `Conflict`."""

    def list_for_owner(self, owner_id: str, group: Group | None, limit: int,
                       start: dict[str, Any] | None) -> Page[Repair]: ...

    def list_for_community(self, community_id: str, status: str | None, limit: int,
                           start: dict[str, Any] | None) -> Page[Repair]: ...

    def list_for_assignee(self, assignee_id: str, group: Group | None, limit: int,
                          start: dict[str, Any] | None) -> Page[Repair]: ...

    def add_photo(self, photo: Photo, max_photos: int) -> None:
        """Count the photo on its request and store it, atomically; `Conflict(too_many_photos)` past the limit."""

    def photos(self, repair_id: str) -> list[Photo]: ...

    def get_photo(self, repair_id: str, photo_id: str) -> Photo | None: ...

    def finish_photo(self, photo: Photo) -> bool:
        """Store a processed photo's outcome if it is still pending; False if another delivery got there first."""

    def claim_notice(self, repair_id: str, notice: str) -> bool:
        """Mark `notice` as sent for the request; False if it already was (jobs are delivered at least once)."""

    def release_notice(self, repair_id: str, notice: str) -> None: ...


class UploadSigner(Protocol):
    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """`{"url", "fields"}` of a presigned POST pinned to `key`, `content_type` and 1..`max_bytes` bytes."""

    def presign_get(self, key: str, expires_in: int) -> str: ...


class JobQueue(Protocol):
    def send(self, kind: str, payload: dict[str, Any]) -> None: ...


# -- commands and views -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRepair:
    unit_id: str
    kind: str
    category: str
    location: str
    description: str
    preferred_time: str | None = None


@dataclass(frozen=True)
class PhotoUpload:
    photo: Photo
    url: str
    fields: dict[str, str]
    expires_in: int = UPLOAD_EXPIRES_IN


@dataclass(frozen=True)
class PhotoView:
    photo_id: str
    status: str
    url: str | None = None
    thumbnail_url: str | None = None
    reason: str | None = None  # why a rejected photo was refused (see `RejectReason` in api/repairs.py)


@dataclass(frozen=True)
class RepairDetails:
    repair: Repair
    photos: list[PhotoView] = field(default_factory=list)
    assignee: Account | None = None


def upload_key(repair_id: str, photo_id: str, content_type: str) -> str:
    return f"uploads/{repair_id}/{photo_id}.{PHOTO_TYPES[content_type]}"


class RepairService:
    def __init__(self, repairs: RepairRepository, accounts: AccountRepository, communities: CommunityRepository,
                 audit: AuditLog, uploads: UploadSigner, jobs: JobQueue, clock: Callable[[], datetime] = utcnow):
        self._repairs = repairs
        self._accounts = accounts
        self._communities = communities
        self._audit = audit
        self._uploads = uploads
        self._jobs = jobs
        self._clock = clock

    # -- owners ------------------------------------------------------------------------------------

    def submit(self, caller: Principal, cmd: NewRepair) -> Repair:
        """Open a request for one of the caller's own units."""
        if caller.role != "owner" or cmd.unit_id not in caller.unit_ids:
            raise NotFound("The unit was not found.")
        unit = self._communities.get_units({cmd.unit_id}).get(cmd.unit_id)
        if unit is None:
            raise NotFound("The unit was not found.")
        if cmd.kind == "repair" and cmd.category not in REPAIR_CATEGORIES:
            raise field_error("category", f"must be one of {', '.join(REPAIR_CATEGORIES)} for a repair")
        now = iso(self._clock())
        repair = Repair(new_id("r"), caller.user_id, unit.unit_id, unit.community_id, cmd.kind, cmd.category,
                        cmd.location, cmd.description, "submitted", now, now,
                        (TimelineEntry("submitted", now, caller.role),), preferred_time=cmd.preferred_time)
        self._repairs.create(repair)
        self._record(caller.user_id, "repair.created", f"报修已提交：{cmd.location}", repair.repair_id)
        return repair

    def add_photo(self, caller: Principal, repair_id: str, content_type: str, size_bytes: int) -> PhotoUpload:
        """Register a photo and hand out a presigned POST for it (at most `MAX_PHOTOS` per request)."""
        repair = self._own(caller, repair_id)
        if content_type not in PHOTO_TYPES:
            raise field_error("content_type", "must be image/jpeg or image/png")
        if not 1 <= size_bytes <= MAX_PHOTO_BYTES:
            raise field_error("size_bytes", f"must be between 1 and {MAX_PHOTO_BYTES}")
        if repair.group == "closed":
            raise Conflict("Photos can only be added to an open request.")
        photo_id = new_id("p")
        photo = Photo(repair_id, photo_id, content_type, upload_key(repair_id, photo_id, content_type), "pending",
                      iso(self._clock()))
        self._repairs.add_photo(photo, MAX_PHOTOS)
        ticket = self._uploads.presign_upload(photo.upload_key, content_type, MAX_PHOTO_BYTES, UPLOAD_EXPIRES_IN)
        return PhotoUpload(photo, ticket["url"], ticket["fields"])

    def cancel(self, caller: Principal, repair_id: str, reason: str | None) -> Repair:
        repair = self._own(caller, repair_id)
        after = self._change(repair, "cancelled", "owner", caller.role, reason)
        self._record(caller.user_id, "repair.cancelled", "报修已取消", repair_id)
        return after

    def rate(self, caller: Principal, repair_id: str, stars: int, comment: str | None) -> Repair:
        repair = self._own(caller, repair_id)
        after = rate(repair, stars, comment, iso(self._clock()))
        self._repairs.update(repair, after)
        self._record(caller.user_id, "repair.rated", f"评价维修：{stars}星", repair_id)
        return after

    def list_own(self, caller: Principal, group: Group | None, limit: int,
                 start: dict[str, Any] | None) -> Page[Repair]:
        return self._repairs.list_for_owner(caller.user_id, group, limit, start)

    # -- staff and technicians ----------------------------------------------------------------------

    def list_for_staff(self, caller: Principal, community_id: str, status: str | None, limit: int,
                       start: dict[str, Any] | None) -> Page[Repair]:
        if not caller.is_staff or not caller.can_access_community(community_id):
            raise NotFound("The community was not found.")
        return self._repairs.list_for_community(community_id, status, limit, start)

    def list_assigned(self, caller: Principal, group: Group | None, limit: int,
                      start: dict[str, Any] | None) -> Page[Repair]:
        return self._repairs.list_for_assignee(caller.user_id, group, limit, start)

    def assign(self, caller: Principal, repair_id: str, technician_id: str, eta: datetime) -> Repair:
        repair = self._managed(caller, repair_id)
        technician = self._accounts.get(technician_id)
        if technician is None or technician.role != "technician" or repair.community_id not in technician.community_ids:
            raise field_error("technician_id", "is not a technician of this community")
        after = self._change(repair, "assigned", "staff", caller.role, None, assignee_id=technician_id, eta=iso(eta))
        self._record(caller.user_id, "repair.assigned", f"派单给{technician.name}", repair_id)
        self._jobs.send(REPAIR_SMS_JOB, {"repair_id": repair_id, "event": "assigned"})
        return after

    def reject(self, caller: Principal, repair_id: str, note: str) -> Repair:
        repair = self._managed(caller, repair_id)
        after = self._change(repair, "rejected", "staff", caller.role, note)
        self._record(caller.user_id, "repair.rejected", "驳回报修", repair_id)
        return after

    def set_status(self, caller: Principal, repair_id: str, status: str, note: str | None) -> Repair:
        """Progress of the work, by the assigned technician or by staff of the community."""
        repair = self._visible(caller, repair_id)
        actor: Actor = "staff" if caller.is_staff else "assignee"
        if actor == "assignee" and repair.assignee_id != caller.user_id:
            raise NotFound()
        after = self._change(repair, status, actor, caller.role, note)
        self._record(caller.user_id, f"repair.{status}", f"维修状态：{status}", repair_id)
        if status == "completed":
            self._jobs.send(REPAIR_SMS_JOB, {"repair_id": repair_id, "event": "completed"})
        return after

    # -- reading --------------------------------------------------------------------------------------

    def details(self, caller: Principal, repair_id: str) -> RepairDetails:
        """A request with its photos (short-lived links to the ready ones) and its assignee."""
        repair = self._visible(caller, repair_id)
        photos = []
        for photo in sorted(self._repairs.photos(repair_id), key=lambda p: (p.created_at, p.photo_id)):
            if photo.status == "ready" and photo.processed_key and photo.thumbnail_key:
                photos.append(PhotoView(photo.photo_id, photo.status,
                                        self._uploads.presign_get(photo.processed_key, PHOTO_URL_EXPIRES_IN),
                                        self._uploads.presign_get(photo.thumbnail_key, PHOTO_URL_EXPIRES_IN)))
            else:
                photos.append(PhotoView(photo.photo_id, photo.status,
                                        reason=photo.reason if photo.status == "rejected" else None))
        assignee = self._accounts.get(repair.assignee_id) if repair.assignee_id else None
        return RepairDetails(repair, photos, assignee)

    def _visible(self, caller: Principal, repair_id: str) -> Repair:
        """The request if the caller may see it: its owner, staff of its community, or its technician."""
        repair = self._repairs.get(repair_id)
        if repair is None:
            raise NotFound("The request was not found.")
        if caller.role == "owner" and repair.owner_id == caller.user_id:
            return repair
        if caller.is_staff and caller.can_access_community(repair.community_id):
            return repair
        if (caller.role == "technician" and repair.assignee_id == caller.user_id
                and repair.community_id in caller.community_ids):
            return repair
        raise NotFound("The request was not found.")

    def _own(self, caller: Principal, repair_id: str) -> Repair:
        repair = self._repairs.get(repair_id)
        if repair is None or caller.role != "owner" or repair.owner_id != caller.user_id:
            raise NotFound("The request was not found.")
        return repair

    def _managed(self, caller: Principal, repair_id: str) -> Repair:
        repair = self._repairs.get(repair_id)
        if repair is None or not caller.is_staff or not caller.can_access_community(repair.community_id):
            raise NotFound("The request was not found.")
        return repair

    def _change(self, repair: Repair, target: str, actor: Actor, actor_role: str, note: str | None,
                **changes: Any) -> Repair:
        after = move(repair, target, actor, actor_role, iso(self._clock()), note, **changes)
        self._repairs.update(repair, after)
        return after

    def _record(self, user_id: str, action: str, summary: str, ref: str) -> None:
        self._audit.record(AuditEvent(user_id, iso(self._clock()), action, summary, ref))


# -- notifications --------------------------------------------------------------------------------------


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> str: ...


def sms_text(event: str, repair: Repair, technician: Account | None, eta_local: str | None) -> str:
    """The resident-facing text (Simplified Chinese)."""
    if event == "assigned":
        name = technician.name if technician else "维修师傅"
        when = f"，预计{eta_local}上门" if eta_local else ""
        return f"【物业服务】您的报修（{repair.location}）已派单给{name}师傅{when}。"
    return f"【物业服务】您的报修（{repair.location}）已完成维修，欢迎在App中评价本次服务。"


class RepairNotifier:
    """The `repair-sms` job: texts the owner on assignment and completion, once, per their preferences."""

    def __init__(self, repairs: RepairRepository, accounts: AccountRepository, communities: CommunityRepository,
                 sms: SmsSender):
        self._repairs = repairs
        self._accounts = accounts
        self._communities = communities
        self._sms = sms

    def notify(self, repair_id: str, event: str) -> bool:
        """Send the SMS for `event`; False when nothing was sent (opted out, already sent, gone)."""
        repair = self._repairs.get(repair_id)
        owner = self._accounts.get(repair.owner_id) if repair else None
        if repair is None or owner is None or not owner.notification_prefs.get("sms_repairs", True):
            return False
        technician = self._accounts.get(repair.assignee_id) if repair.assignee_id else None
        eta_local = None
        if repair.eta:
            eta_local = self._local_time(repair.community_id, repair.eta)
        notice = f"{event}#{repair.assignee_id or ''}#{repair.eta or ''}"
        if not self._repairs.claim_notice(repair_id, notice):
            return False
        try:
            self._sms.send(owner.phone, sms_text(event, repair, technician, eta_local))
        except Exception:
            self._repairs.release_notice(repair_id, notice)  # let the job's retry send it
            raise
        return True

    def _local_time(self, community_id: str, eta: str) -> str:
        from zoneinfo import ZoneInfo

        community = self._communities.get_community(community_id)
        zone = ZoneInfo(community.timezone if community else "Asia/Shanghai")
        local = datetime.fromisoformat(eta.replace("Z", "+00:00")).astimezone(zone)
        return f"{local.month}月{local.day}日 {local:%H:%M}"
