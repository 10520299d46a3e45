"""Community structure and account administration (API.md §4), and the caller's own profile (`GET /me`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from chalicelib.domain import passwords
from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, AuditEvent, Building, Community, Principal, Role, Unit, UnitView
from chalicelib.domain.ports import AccountRepository, AuditLog, CommunityRepository, Page, SessionRepository
from chalicelib.errors import Conflict, Forbidden, NotFound, field_error


@dataclass(frozen=True)
class NewUnit:
    community_id: str
    building_id: str
    unit_no: str
    floor: int
    area_m2: Decimal
    layout: str


@dataclass(frozen=True)
class NewOwner:
    name: str
    phone: str
    unit_ids: tuple[str, ...]
    account: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class NewStaffUser:
    name: str
    phone: str
    role: Role
    account: str
    community_ids: tuple[str, ...]


@dataclass(frozen=True)
class IssuedAccount:
    account: Account
    initial_password: str


class Directory:
    def __init__(self, accounts: AccountRepository, sessions: SessionRepository, communities: CommunityRepository,
                 audit: AuditLog, clock: Callable[[], datetime] = utcnow):
        self._accounts = accounts
        self._sessions = sessions
        self._communities = communities
        self._audit = audit
        self._clock = clock

    # -- community structure -------------------------------------------------------------------

    def create_community(self, caller: Principal, name: str, address: str, timezone: str | None) -> Community:
        """Create a community (admin only)."""
        if not caller.is_admin:
            raise Forbidden("Only an admin can create communities.")
        tz = timezone or "Asia/Shanghai"
        if tz not in available_timezones():
            raise field_error("timezone", "must be an IANA time zone such as Asia/Shanghai")
        community = Community(new_id("c"), name, address, tz, iso(self._clock()))
        self._communities.create_community(community)
        return community

    def community_for(self, caller: Principal, community_id: str) -> Community:
        """The community, if the caller works for it (else 404: foreign looks like missing)."""
        if not caller.can_access_community(community_id):
            raise NotFound()
        community = self._communities.get_community(community_id)
        if community is None:
            raise NotFound()
        return community

    def create_building(self, caller: Principal, community_id: str, name: str) -> Building:
        self.community_for(caller, community_id)
        building = Building(new_id("b"), community_id, name, iso(self._clock()))
        self._communities.create_building(building)
        return building

    def create_unit(self, caller: Principal, cmd: NewUnit) -> Unit:
        self.community_for(caller, cmd.community_id)
        if self._communities.get_building(cmd.community_id, cmd.building_id) is None:
            raise NotFound("The building was not found in this community.")
        unit = Unit(new_id("un"), cmd.community_id, cmd.building_id, cmd.unit_no, cmd.floor, cmd.area_m2,
                    cmd.layout, iso(self._clock()))
        self._communities.create_unit(unit)
        return unit

    def list_units(self, caller: Principal, community_id: str, building_id: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page[Unit]:
        self.community_for(caller, community_id)
        return self._communities.list_units(community_id, building_id, limit, start)

    # -- accounts ------------------------------------------------------------------------------

    def create_owner(self, caller: Principal, cmd: NewOwner) -> IssuedAccount:
        """Issue an owner account for units the caller manages; the initial password is returned once."""
        units = self._communities.get_units(set(cmd.unit_ids))
        missing = [u for u in cmd.unit_ids if u not in units or not caller.can_access_community(units[u].community_id)]
        if missing:
            raise NotFound("A unit was not found.", details={"unit_ids": missing})
        views = self._unit_views([units[u] for u in cmd.unit_ids])
        return self._issue(caller, account_name=cmd.account or self._account_from_phone(cmd.phone), name=cmd.name,
                           phone=cmd.phone, role="owner", email=cmd.email, units=views,
                           community_ids=frozenset(v.community_id for v in views))

    def create_user(self, caller: Principal, cmd: NewStaffUser) -> IssuedAccount:
        """Issue a staff, technician or admin account (admin only)."""
        if not caller.is_admin:
            raise Forbidden("Only an admin can create staff accounts.")
        if cmd.role in ("staff", "technician") and not cmd.community_ids:
            raise field_error("community_ids", "is required for staff and technicians")
        known = self._communities.get_communities(set(cmd.community_ids))
        missing = [c for c in cmd.community_ids if c not in known]
        if missing:
            raise NotFound("A community was not found.", details={"community_ids": missing})
        return self._issue(caller, account_name=cmd.account, name=cmd.name, phone=cmd.phone, role=cmd.role,
                           email=None, units=[], community_ids=frozenset(cmd.community_ids))

    def unlock(self, caller: Principal, user_id: str) -> None:
        target = self._managed_account(caller, user_id)
        self._accounts.clear_lock(target.user_id)
        self._record(target.user_id, "account.unlocked", "Account unlocked by the property")

    def reset_password(self, caller: Principal, user_id: str) -> str:
        """Give the account a new initial password (must change at next login), end its sessions and distrust
        its devices. Never the caller's own account (409 `cannot_reset_self`)."""
        if user_id == caller.user_id:
            # A forced change of one's own password by the desk route would lock its caller out of every
            # session at once; one's own password is changed with POST /auth/password.
            raise Conflict("Change your own password with POST /auth/password.", code="cannot_reset_self")
        target = self._managed_account(caller, user_id)
        initial = passwords.generate_initial_password()
        self._accounts.set_password(target.user_id, passwords.hash_password(initial), must_change=True)
        self._accounts.clear_lock(target.user_id)
        # Devices trusted before the reset must not skip the second factor (as after an SMS reset).
        self._accounts.distrust_devices(target.user_id, int(self._clock().timestamp()))
        self._sessions.revoke_all(target.user_id)
        self._record(target.user_id, "password.reset_by_staff", "Password reset by the property")
        return initial

    def profile(self, caller: Principal) -> Account:
        account = self._accounts.get(caller.user_id)
        if account is None:
            raise NotFound()
        return account

    # -- helpers -------------------------------------------------------------------------------

    def _issue(self, caller: Principal, *, account_name: str, name: str, phone: str, role: Role, email: str | None,
               units: list[UnitView], community_ids: frozenset[str]) -> IssuedAccount:
        initial = passwords.generate_initial_password()
        account = Account(
            user_id=new_id("u"),
            account=account_name,
            name=name,
            phone=phone,
            role=role,
            password_hash=passwords.hash_password(initial),
            created_at=iso(self._clock()),
            email=email,
            # The admin account of the local stack is the only one ever created without a forced change.
            must_change_password=True,
            community_ids=community_ids,
            units=units,
        )
        self._accounts.create(account)
        self._record(account.user_id, "account.created", f"Account issued by {caller.role}")
        return IssuedAccount(account, initial)

    @staticmethod
    def _account_from_phone(phone: str) -> str:
        # Owners may log in with their phone; the default account name is the national number.
        return phone.lstrip("+")[-11:]

    def _unit_views(self, units: list[Unit]) -> list[UnitView]:
        communities = self._communities.get_communities({u.community_id for u in units})
        views = []
        for unit in units:
            building = self._communities.get_building(unit.community_id, unit.building_id)
            views.append(UnitView(unit.unit_id, unit.community_id, communities[unit.community_id].name,
                                  unit.building_id, building.name if building else "", unit.unit_no, unit.floor,
                                  unit.area_m2, unit.layout))
        return views

    def _managed_account(self, caller: Principal, user_id: str) -> Account:
        """An account the caller may administer: admins any; staff the owners and staff of their communities."""
        target = self._accounts.get(user_id)
        if target is None:
            raise NotFound()
        if caller.is_admin:
            return target
        if target.role == "admin" or not (target.community_ids & caller.community_ids):
            raise NotFound()
        return target

    def _record(self, user_id: str, action: str, summary: str, ref: str | None = None) -> None:
        self._audit.record(AuditEvent(user_id, iso(self._clock()), action, summary, ref))
