"""The small interfaces the domain needs from storage and messaging (adapters implement them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from chalicelib.domain.model import Account, AuditEvent, Building, Community, Session, Unit

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `last_key` is the storage position to continue from (None at the end)."""

    items: list[T]
    last_key: dict[str, Any] | None


class AccountRepository(Protocol):
    def get(self, user_id: str) -> Account | None: ...

    def get_by_login(self, login: str) -> Account | None:
        """Find an account by its account name or its phone number."""

    def create(self, account: Account) -> None:
        """Store a new account; raise `Conflict` if its account name or phone is taken."""

    def set_password(self, user_id: str, password_hash: str, must_change: bool) -> None: ...

    def phone_taken(self, phone: str) -> bool: ...

    def change_phone(self, user_id: str, old_phone: str, new_phone: str) -> None:
        """Raise `Conflict` if the new phone was claimed meanwhile."""

    def clear_lock(self, user_id: str) -> None: ...

    def distrust_devices(self, user_id: str, now: int) -> None:
        """Devices trusted before `now` no longer skip the second factor."""


class SessionRepository(Protocol):
    def create(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def rotate(self, session_id: str, old_hash: str, new_hash: str, rotated_hashes: list[str]) -> bool:
        """Swap the refresh hash if it is still `old_hash`; False if another rotation won."""

    def revoke(self, session_id: str) -> None: ...

    def revoke_all(self, user_id: str, keep: str | None = None) -> int:
        """Revoke every session of the user except `keep`; return how many were revoked."""

    def set_must_change(self, session_id: str, value: bool) -> None: ...


class CommunityRepository(Protocol):
    def create_community(self, community: Community) -> None: ...

    def get_community(self, community_id: str) -> Community | None: ...

    def get_communities(self, community_ids: set[str]) -> dict[str, Community]: ...

    def create_building(self, building: Building) -> None: ...

    def get_building(self, community_id: str, building_id: str) -> Building | None: ...

    def create_unit(self, unit: Unit) -> None:
        """Store a new unit; raise `Conflict` if the building already has that unit number."""

    def get_units(self, unit_ids: set[str]) -> dict[str, Unit]: ...

    def list_units(self, community_id: str, building_id: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page[Unit]: ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...

    def list(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[AuditEvent]: ...
