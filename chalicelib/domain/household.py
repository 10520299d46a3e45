"""Household members of a unit and their door access (API.md §5), with events for the door-access system.

Delivery to the door system is at least once, never lost and never repeated by a retried request:
1. every change of access is a conditional write (optimistic version) that also stores the event to send
   (the member's *outbox*); only the writer that wins the condition goes on;
2. the outbox is then published to the SNS topic and cleared with another conditional write.
If the process dies between 1 and 2 (or the publish fails), the event stays in the outbox: a retried request
publishes it, and the daily sweep finds it through the sparse `by-due` index. So the door system can receive
an event twice (never zero times): events carry an `event_id` to deduplicate, and each one states the
resulting access (granted until / revoked), so applying one twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import AuditEvent, Principal
from chalicelib.domain.paging import across_partitions
from chalicelib.domain.ports import AuditLog, CommunityRepository, Page
from chalicelib.errors import Conflict, NotFound, field_error
from chalicelib.observability import count, logger

DoorAction = Literal["granted", "revoked", "expired"]
# How far back the sweep looks for due members: it catches up after this many days without a run.
SWEEP_LOOKBACK_DAYS = 14
# A pending event younger than this probably belongs to a request still running: leave it to that request.
PENDING_GRACE = timedelta(minutes=5)
_WRITE_ATTEMPTS = 3


class StaleMember(Conflict):
    """The member changed since it was read (the optimistic version did not match)."""

    message = "The household member was changed at the same time; try again."


@dataclass(frozen=True)
class DoorEvent:
    event_id: str
    action: DoorAction
    unit_id: str
    community_id: str
    member_id: str
    name: str
    valid_until: str | None  # RFC 3339 UTC: end of the grant (None = no end), or when access ended
    occurred_at: str

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "action": self.action, "unit_id": self.unit_id,
                "community_id": self.community_id, "member_id": self.member_id, "name": self.name,
                "valid_until": self.valid_until, "occurred_at": self.occurred_at}


@dataclass(frozen=True)
class Member:
    member_id: str
    unit_id: str
    community_id: str
    added_by: str
    name: str
    relation: str
    phone: str | None
    created_at: str
    access: bool  # the door system has been told to let this member in
    access_until: str | None = None  # last valid day (YYYY-MM-DD, community time zone), None = no end
    access_expires_at: str | None = None  # RFC 3339 UTC instant the grant lapses (start of the next day)
    removed: bool = False  # removal decided, its revocation not yet published
    outbox: DoorEvent | None = None
    version: int = 0

    @property
    def due_at(self) -> str | None:
        """When the sweep must look at this member (drives the sparse index): a pending event, or the expiry."""
        if self.outbox is not None:
            return self.outbox.occurred_at
        if self.access and self.access_expires_at:
            return self.access_expires_at
        return None

    def access_granted(self, now: datetime) -> bool:
        """Access as of `now` (an expired grant counts as gone even before the sweep revokes it)."""
        return self.access and (self.access_expires_at is None or self.access_expires_at > iso(now))


@dataclass(frozen=True)
class NewMember:
    unit_id: str
    name: str
    relation: str
    access: bool
    phone: str | None = None
    access_until: date | None = None


class HouseholdRepository(Protocol):
    def create(self, member: Member) -> Member:
        """Store a new member; returns it with its first version."""

    def get(self, member_id: str) -> Member | None: ...

    def save(self, member: Member) -> Member:
        """Write `member` if the stored version is still `member.version` (else `StaleMember`); new version back."""

    def delete(self, member: Member) -> None:
        """Delete if the stored version is still `member.version` (else `StaleMember`)."""

    def list_by_unit(self, unit_id: str, limit: int, start: dict[str, Any] | None) -> Page[Member]: ...

    def due(self, day: str, until: str) -> list[Member]:
        """Members whose `due_at` falls on UTC `day` and is at or before `until` (sparse index query)."""


class DoorAccessPublisher(Protocol):
    def publish(self, event: DoorEvent) -> None: ...


class HouseholdService:
    def __init__(self, members: HouseholdRepository, communities: CommunityRepository, publisher: DoorAccessPublisher,
                 audit: AuditLog, clock: Callable[[], datetime] = utcnow):
        self._members = members
        self._communities = communities
        self._publisher = publisher
        self._audit = audit
        self._clock = clock

    def list(self, caller: Principal, limit: int, start: dict[str, Any] | None) -> Page[Member]:
        """The members of every unit of the caller (co-owners of a unit share its household)."""
        return across_partitions(sorted(caller.unit_ids), limit, start, self._members.list_by_unit,
                                 keep=lambda m: not m.removed)

    def add(self, caller: Principal, cmd: NewMember) -> Member:
        """Add a member to one of the caller's units, granting door access if asked."""
        if cmd.unit_id not in caller.unit_ids:
            raise NotFound("The unit was not found.")
        unit = self._communities.get_units({cmd.unit_id}).get(cmd.unit_id)
        if unit is None:
            raise NotFound("The unit was not found.")
        community = self._communities.get_community(unit.community_id)
        zone = ZoneInfo(community.timezone if community else "Asia/Shanghai")
        now = self._clock()
        expires_at = None
        if cmd.access_until is not None:
            if not cmd.access:
                raise field_error("access_until", "is only allowed with access: true")
            if cmd.access_until < now.astimezone(zone).date():
                raise field_error("access_until", "must not be in the past")
            end = datetime.combine(cmd.access_until + timedelta(days=1), time(0), tzinfo=zone)
            expires_at = iso(end)
        member_id = new_id("hm")
        member = Member(member_id, unit.unit_id, unit.community_id, caller.user_id, cmd.name, cmd.relation, cmd.phone,
                        iso(now), cmd.access, cmd.access_until.isoformat() if cmd.access_until else None, expires_at)
        if cmd.access:
            member = replace(member, outbox=self._event(member, "granted", expires_at))
        member = self._members.create(member)
        self._record(caller.user_id, "household.added", f"Added household member {cmd.name}", member_id)
        if cmd.access:
            self._record(caller.user_id, "door_access.granted", f"Door access granted to {cmd.name}", member_id)
        self._flush(member)
        return member

    def remove(self, caller: Principal, member_id: str) -> None:
        """Remove a member of one of the caller's units; an active door access is revoked first."""
        for _ in range(_WRITE_ATTEMPTS):
            member = self._members.get(member_id)
            if member is None or member.unit_id not in caller.unit_ids:
                raise NotFound("The household member was not found.")
            if member.removed:
                # An earlier attempt decided the removal but did not get its event out: finish that job.
                self._flush(member)
                return
            revoke = member.access
            try:
                if revoke or member.outbox is not None:
                    outbox = self._event(member, "revoked", iso(self._clock())) if revoke else member.outbox
                    member = self._members.save(replace(member, removed=True, access=False, outbox=outbox))
                else:
                    self._members.delete(member)
            except StaleMember:
                continue
            self._record(caller.user_id, "household.removed", f"Removed household member {member.name}", member_id)
            if revoke:
                self._record(caller.user_id, "door_access.revoked", f"Door access revoked for {member.name}",
                             member_id)
            self._flush(member)
            return
        raise StaleMember()

    def sweep(self) -> dict[str, int]:
        """Revoke lapsed grants and publish any event left pending; idempotent and resumable."""
        now = self._clock()
        until = iso(now)
        expired = republished = 0
        for back in range(SWEEP_LOOKBACK_DAYS, -1, -1):
            day = (now - timedelta(days=back)).date().isoformat()
            for indexed in self._members.due(day, until):
                # The index is eventually consistent: the table item decides (it may be done already).
                member = self._members.get(indexed.member_id)
                if member is None:
                    continue
                if member.outbox is not None:
                    if member.outbox.occurred_at > iso(now - PENDING_GRACE):
                        continue
                    if self._flush(member):
                        republished += 1
                    continue
                if not member.access or member.access_expires_at is None or member.access_expires_at > until:
                    continue  # the index can lag behind the table; the item itself decides
                try:
                    saved = self._members.save(replace(
                        member, access=False,
                        outbox=self._event(member, "expired", member.access_expires_at)))
                except StaleMember:
                    continue  # another sweep (or the owner) got there first; it publishes
                self._record(member.added_by, "door_access.revoked", f"Door access of {member.name} expired",
                             member.member_id)
                expired += 1
                self._flush(saved)
        if expired or republished:
            logger.info("door access sweep", extra={"expired": expired, "republished": republished})
        return {"expired": expired, "republished": republished}

    # -- helpers -------------------------------------------------------------------------------

    def _event(self, member: Member, action: DoorAction, valid_until: str | None) -> DoorEvent:
        return DoorEvent(new_id("ev"), action, member.unit_id, member.community_id, member.member_id, member.name,
                         valid_until, iso(self._clock()))

    def _flush(self, member: Member) -> bool:
        """Publish the member's pending event, then clear it (or delete a removed member). True if published."""
        if member.outbox is None:
            return False
        self._publisher.publish(member.outbox)
        count("DoorAccessEventPublished")
        try:
            if member.removed:
                self._members.delete(member)
            else:
                self._members.save(replace(member, outbox=None))
        except StaleMember:
            # Someone changed the member meanwhile; whatever is pending now is theirs (or the sweep's) to send.
            pass
        return True

    def _record(self, user_id: str, action: str, summary: str, ref: str | None) -> None:
        self._audit.record(AuditEvent(user_id, iso(self._clock()), action, summary, ref))
