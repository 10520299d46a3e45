"""In-memory implementations of the domain ports (not mocks: they keep state and enforce the same rules)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.keyring import JwtSigner, Keyring, new_secret_document
from chalicelib.domain.model import Account, AuditEvent, Building, Community, Session, Unit
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict, NotFound


class UtcClock:
    """A clock the test moves: calling it gives the current UTC time (the services' `clock` argument)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> None:
        self.now += timedelta(seconds=seconds, **delta)


def _page(items: list[Any], limit: int, start: dict[str, Any] | None, key: str) -> Page[Any]:
    offset = int(start[key]) if start else 0
    chunk = items[offset:offset + limit]
    more = offset + limit < len(items)
    return Page(chunk, {key: offset + limit} if more else None)


class FakeAccounts:
    def __init__(self) -> None:
        self.items: dict[str, Account] = {}
        self.claims: dict[str, str] = {}

    def get(self, user_id: str) -> Account | None:
        account = self.items.get(user_id)
        return copy.deepcopy(account) if account else None

    def get_by_login(self, login: str) -> Account | None:
        key = f"phone#{login}" if login.startswith("+") else f"account#{login.lower()}"
        owner = self.claims.get(key)
        return self.get(owner) if owner else None

    def create(self, account: Account) -> None:
        keys = {f"account#{account.account.lower()}": "account", f"phone#{account.phone}": "phone"}
        taken = [field for key, field in keys.items() if key in self.claims]
        if taken:
            raise Conflict(details={"fields": taken})
        for key in keys:
            self.claims[key] = account.user_id
        self.items[account.user_id] = copy.deepcopy(account)

    def set_password(self, user_id: str, password_hash: str, must_change: bool) -> None:
        account = self._existing(user_id)
        account.password_hash, account.must_change_password = password_hash, must_change

    def phone_taken(self, phone: str) -> bool:
        return f"phone#{phone}" in self.claims

    def change_phone(self, user_id: str, old_phone: str, new_phone: str) -> None:
        if self.phone_taken(new_phone):
            raise Conflict()
        self.claims.pop(f"phone#{old_phone}", None)
        self.claims[f"phone#{new_phone}"] = user_id
        self._existing(user_id).phone = new_phone

    def clear_lock(self, user_id: str) -> None:
        account = self._existing(user_id)
        account.failed_logins, account.locked_until = 0, None

    def distrust_devices(self, user_id: str, now: int) -> None:
        self._existing(user_id).devices_valid_after = now

    def _existing(self, user_id: str) -> Account:
        if user_id not in self.items:
            raise NotFound()
        return self.items[user_id]


class FakeSessions:
    def __init__(self) -> None:
        self.items: dict[str, Session] = {}

    def create(self, session: Session) -> None:
        self.items[session.session_id] = copy.deepcopy(session)

    def get(self, session_id: str) -> Session | None:
        session = self.items.get(session_id)
        return copy.deepcopy(session) if session else None

    def rotate(self, session_id: str, old_hash: str, new_hash: str, rotated_hashes: list[str]) -> bool:
        session = self.items.get(session_id)
        if session is None or session.refresh_hash != old_hash or session.revoked:
            return False
        session.refresh_hash, session.rotated_hashes = new_hash, list(rotated_hashes)
        return True

    def revoke(self, session_id: str) -> None:
        if session_id in self.items:
            self.items[session_id].revoked = True

    def revoke_all(self, user_id: str, keep: str | None = None) -> int:
        victims = [s for s in self.items.values() if s.user_id == user_id and s.session_id != keep]
        for session in victims:
            session.revoked = True
        return len(victims)

    def set_must_change(self, session_id: str, value: bool) -> None:
        if session_id in self.items:
            self.items[session_id].must_change_password = value


class FakeCommunities:
    def __init__(self) -> None:
        self.communities: dict[str, Community] = {}
        self.buildings: dict[tuple[str, str], Building] = {}
        self.units: dict[str, Unit] = {}

    def create_community(self, community: Community) -> None:
        self.communities[community.community_id] = community

    def get_community(self, community_id: str) -> Community | None:
        return self.communities.get(community_id)

    def get_communities(self, community_ids: set[str]) -> dict[str, Community]:
        return {c: self.communities[c] for c in community_ids if c in self.communities}

    def create_building(self, building: Building) -> None:
        self.buildings[(building.community_id, building.building_id)] = building

    def get_building(self, community_id: str, building_id: str) -> Building | None:
        return self.buildings.get((community_id, building_id))

    def create_unit(self, unit: Unit) -> None:
        if any(u.building_id == unit.building_id and u.unit_no.lower() == unit.unit_no.lower()
               for u in self.units.values()):
            raise Conflict()
        self.units[unit.unit_id] = unit

    def get_units(self, unit_ids: set[str]) -> dict[str, Unit]:
        return {u: self.units[u] for u in unit_ids if u in self.units}

    def list_units(self, community_id: str, building_id: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page[Unit]:
        items = sorted((u for u in self.units.values() if u.community_id == community_id
                        and (building_id is None or u.building_id == building_id)),
                       key=lambda u: (u.building_id, u.unit_no))
        return _page(items, limit, start, "offset")


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def list(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[AuditEvent]:
        mine = sorted((e for e in self.events if e.user_id == user_id), key=lambda e: e.at, reverse=True)
        return _page(mine, limit, start, "offset")

    def actions(self, user_id: str) -> list[str]:
        return [e.action for e in self.events if e.user_id == user_id]


def static_keyring(document: str | None = None) -> Keyring:
    doc = document or new_secret_document()
    return Keyring(lambda: doc)


def signer(document: str | None = None) -> JwtSigner:
    return JwtSigner(static_keyring(document))
