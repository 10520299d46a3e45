"""The caller's own profile changes and history (API.md §5, `PATCH /me`, `GET /me/history`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.ids import iso, utcnow
from chalicelib.domain.model import TAGS, Account, AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog, Page
from chalicelib.errors import NotFound, ValidationFailed, field_error

NOTIFICATION_PREFS: tuple[str, ...] = ("sms_repairs", "sms_notices", "sms_reminders")


@dataclass(frozen=True)
class ProfileChanges:
    """What `PATCH /me` may change; None = leave as is (`clear_email` removes the email).
    Nothing else of an account is reachable from here."""

    email: str | None = None
    tags: frozenset[str] | None = None
    notification_prefs: dict[str, bool] | None = None
    clear_email: bool = False

    def fields(self) -> list[str]:
        changed = [name for name in ("email", "tags", "notification_prefs") if getattr(self, name) is not None]
        return ["email", *changed] if self.clear_email and "email" not in changed else changed


class ProfileStore(Protocol):
    def update_profile(self, user_id: str, changes: ProfileChanges) -> None:
        """Apply the changes (preferences merged key by key); `NotFound` if the account is gone."""


class ProfileService:
    def __init__(self, accounts: AccountRepository, store: ProfileStore, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self._accounts = accounts
        self._store = store
        self._audit = audit
        self._clock = clock

    def update(self, caller: Principal, changes: ProfileChanges) -> Account:
        """Change the caller's email, tags or notification preferences and return the new profile."""
        fields = changes.fields()
        if not fields:
            raise ValidationFailed("Nothing to change: send email, tags or notification_prefs.")
        if changes.tags is not None and not changes.tags <= set(TAGS):
            raise field_error("tags", f"must be taken from {', '.join(TAGS)}")
        if changes.notification_prefs is not None and not set(changes.notification_prefs) <= set(NOTIFICATION_PREFS):
            raise field_error("notification_prefs", f"keys must be among {', '.join(NOTIFICATION_PREFS)}")
        self._store.update_profile(caller.user_id, changes)
        self._audit.record(AuditEvent(caller.user_id, iso(self._clock()), "profile.updated",
                                      f"Profile updated: {', '.join(fields)}"))
        account = self._accounts.get(caller.user_id)
        if account is None:
            raise NotFound()
        return account

    def history(self, caller: Principal, limit: int, start: dict[str, Any] | None) -> Page[AuditEvent]:
        """The caller's own audit trail, newest first."""
        return self._audit.list(caller.user_id, limit, start)
