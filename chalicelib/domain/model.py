"""Entities of the platform (accounts, sessions, community structure), as plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Role = Literal["owner", "staff", "technician", "admin"]
ROLES: tuple[Role, ...] = ("owner", "staff", "technician", "admin")
STAFF_ROLES: frozenset[str] = frozenset({"staff", "admin"})
TAGS: tuple[str, ...] = ("pet_owner", "elderly", "has_children", "car_owner", "tenant_landlord")


@dataclass(frozen=True)
class Community:
    community_id: str
    name: str
    address: str
    timezone: str
    created_at: str


@dataclass(frozen=True)
class Building:
    building_id: str
    community_id: str
    name: str
    created_at: str


@dataclass(frozen=True)
class Unit:
    unit_id: str
    community_id: str
    building_id: str
    unit_no: str
    floor: int
    area_m2: Decimal
    layout: str
    created_at: str
    owner_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UnitView:
    """A unit as an owner sees it (denormalised with community and building names)."""

    unit_id: str
    community_id: str
    community_name: str
    building_id: str
    building_name: str
    unit_no: str
    floor: int
    area_m2: Decimal
    layout: str


@dataclass
class Account:
    user_id: str
    account: str
    name: str
    phone: str
    role: Role
    password_hash: str
    created_at: str
    email: str | None = None
    must_change_password: bool = False
    community_ids: frozenset[str] = frozenset()
    units: list[UnitView] = field(default_factory=list)
    tags: frozenset[str] = frozenset()
    notification_prefs: dict[str, bool] = field(default_factory=dict)
    failed_logins: int = 0
    locked_until: int | None = None
    totp_secret: str | None = None
    totp_pending_secret: str | None = None
    totp_last_step: int | None = None
    devices_valid_after: int | None = None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    @property
    def unit_ids(self) -> frozenset[str]:
        return frozenset(u.unit_id for u in self.units)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass
class Session:
    session_id: str
    user_id: str
    role: Role
    refresh_hash: str
    created_at: str
    expires_at: int
    community_ids: frozenset[str] = frozenset()
    unit_ids: frozenset[str] = frozenset()
    must_change_password: bool = False
    rotated_hashes: list[str] = field(default_factory=list)
    revoked: bool = False


@dataclass(frozen=True)
class Principal:
    """Who is calling: read from the session on every request."""

    user_id: str
    role: Role
    session_id: str
    community_ids: frozenset[str]
    unit_ids: frozenset[str]
    must_change_password: bool

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def system(cls, session: str) -> Principal:
        """The identity of scheduled jobs and the operations CLI: an admin with no session of its own."""
        return cls("system", "admin", session, frozenset(), frozenset(), False)

    def can_access_community(self, community_id: str) -> bool:
        """Admins see every community; staff and technicians only those on their account."""
        return self.is_admin or community_id in self.community_ids


@dataclass(frozen=True)
class AuditEvent:
    user_id: str
    at: str
    action: str
    summary: str
    ref: str | None = None
