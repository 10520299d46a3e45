"""The presenters shared by several areas' views: accounts (the profile) and community structure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

from chalicelib.observability import mask_phone

if TYPE_CHECKING:  # the domain is imported when a request needs it, not on the cold path
    from chalicelib.domain import model

# The vocabularies of chalicelib.domain.model (TAGS, ROLES), spelled out for the document; a unit test keeps
# them equal.
Tag = Literal["pet_owner", "elderly", "has_children", "car_owner", "tenant_landlord"]
StaffRole = Literal["staff", "technician", "admin"]
Role = Literal["owner", "staff", "technician", "admin"]


class OwnerUnit(TypedDict):
    """A unit as its owner sees it, with the names of its community and building."""

    unit_id: str
    community_id: str
    community_name: str
    building_id: str
    building_name: str
    unit_no: str
    floor: int
    area_m2: float  # a decimal with at most 2 places, sent as a JSON number (89.56)
    layout: str


class Unit(TypedDict):
    """A unit as staff manage it."""

    unit_id: str
    community_id: str
    building_id: str
    unit_no: str
    floor: int
    area_m2: float  # a decimal with at most 2 places, sent as a JSON number (89.56)
    layout: str
    owner_count: int
    created_at: str


class Community(TypedDict):
    community_id: str
    name: str
    address: str
    timezone: str  # IANA, e.g. Asia/Shanghai
    created_at: str


class NotificationPrefs(TypedDict, total=False):
    """The SMS the account wants; an absent key means yes."""

    sms_repairs: bool
    sms_notices: bool
    sms_reminders: bool


class _ProfileBase(TypedDict):
    user_id: str
    name: str
    account: str
    phone: str  # in full to its owner (`GET /me`), masked to anyone else
    email: str | None
    tags: list[Tag]
    notification_prefs: NotificationPrefs
    must_change_password: bool


class OwnerProfile(_ProfileBase):
    """An owner's profile: with the units they own."""

    role: Literal["owner"]
    units: list[OwnerUnit]


class StaffProfile(_ProfileBase):
    """A staff, technician or admin profile: with the communities they work for (admins: every community)."""

    role: StaffRole
    community_ids: list[str]


Profile = OwnerProfile | StaffProfile
# The `response=` of a view answering a profile: owners and staff get different shapes.
PROFILE_RESPONSE = (OwnerProfile, StaffProfile)


def unit_view_json(unit: model.UnitView) -> OwnerUnit:
    return OwnerUnit(unit_id=unit.unit_id, community_id=unit.community_id, community_name=unit.community_name,
                     building_id=unit.building_id, building_name=unit.building_name, unit_no=unit.unit_no,
                     floor=unit.floor, area_m2=unit.area_m2, layout=unit.layout)  # type: ignore[typeddict-item]


def unit_json(unit: model.Unit) -> Unit:
    return Unit(unit_id=unit.unit_id, community_id=unit.community_id, building_id=unit.building_id,
                unit_no=unit.unit_no, floor=unit.floor, area_m2=unit.area_m2,  # type: ignore[typeddict-item]
                layout=unit.layout, owner_count=len(unit.owner_ids), created_at=unit.created_at)


def community_json(community: model.Community) -> Community:
    return Community(community_id=community.community_id, name=community.name, address=community.address,
                     timezone=community.timezone, created_at=community.created_at)


def profile_json(account: model.Account, *, own: bool) -> Profile:
    """The profile of API.md §5; the phone is shown in full only to its owner."""
    phone = account.phone if own else mask_phone(account.phone)
    tags: list[Tag] = sorted(account.tags)  # type: ignore[arg-type]
    prefs = NotificationPrefs(**account.notification_prefs)  # type: ignore[typeddict-item]
    if account.role == "owner":
        return OwnerProfile(user_id=account.user_id, role="owner", name=account.name, account=account.account,
                            phone=phone, email=account.email, tags=tags, notification_prefs=prefs,
                            must_change_password=account.must_change_password,
                            units=[unit_view_json(u) for u in account.units])
    return StaffProfile(user_id=account.user_id, role=account.role, name=account.name, account=account.account,
                        phone=phone, email=account.email, tags=tags, notification_prefs=prefs,
                        must_change_password=account.must_change_password,
                        community_ids=sorted(account.community_ids))
