"""Household door-access rules with in-memory fakes: one event per change, at least once, never repeated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.household import HouseholdService, Member, NewMember, StaleMember
from chalicelib.domain.model import Community, Principal, Unit
from chalicelib.domain.ports import Page
from chalicelib.errors import NotFound, ValidationFailed
from tests.unit.fakes import FakeAudit, FakeCommunities, UtcClock


class FakeHousehold:
    def __init__(self) -> None:
        self.items: dict[str, Member] = {}

    def create(self, member: Member) -> Member:
        member = replace(member, version=1)
        self.items[member.member_id] = member
        return member

    def get(self, member_id: str) -> Member | None:
        return self.items.get(member_id)

    def save(self, member: Member) -> Member:
        if self.items.get(member.member_id, None) is None or self.items[member.member_id].version != member.version:
            raise StaleMember()
        saved = replace(member, version=member.version + 1)
        self.items[member.member_id] = saved
        return saved

    def delete(self, member: Member) -> None:
        if member.member_id not in self.items or self.items[member.member_id].version != member.version:
            raise StaleMember()
        del self.items[member.member_id]

    def list_by_unit(self, unit_id: str, limit: int, start: dict[str, Any] | None) -> Page[Member]:
        mine = [m for m in self.items.values() if m.unit_id == unit_id]
        return Page(mine[:limit], None)

    def due(self, day: str, until: str) -> list[Member]:
        return [m for m in self.items.values() if m.due_at and m.due_at[:10] == day and m.due_at <= until]


class Publisher:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.down = False

    def publish(self, event: Any) -> None:
        if self.down:
            raise RuntimeError("SNS down")
        self.events.append(event)




@pytest.fixture
def env():
    communities = FakeCommunities()
    communities.create_community(Community("c1", "小区", "地址", "Asia/Shanghai", "2026-01-01T00:00:00Z"))
    communities.create_unit(Unit("un1", "c1", "b1", "101", 1, 0, "", "2026-01-01T00:00:00Z"))
    members, publisher, audit = FakeHousehold(), Publisher(), FakeAudit()
    clock = UtcClock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    service = HouseholdService(members, communities, publisher, audit, clock)
    owner = Principal("u1", "owner", "s1", frozenset({"c1"}), frozenset({"un1"}), False)
    return service, members, publisher, audit, clock, owner


def test_household_grant_with_end_date_expires_at_midnight_in_the_community_zone(env):
    service, members, publisher, _, _, owner = env
    member = service.add(owner, NewMember("un1", "李四", "spouse", True, None, date(2026, 3, 5)))
    assert [e.action for e in publisher.events] == ["granted"]
    assert publisher.events[0].valid_until == "2026-03-05T16:00:00Z"
    assert members.get(member.member_id).outbox is None and members.get(member.member_id).due_at == \
        "2026-03-05T16:00:00Z"


def test_household_past_end_date_and_foreign_unit_are_refused(env):
    service, _, publisher, _, _, owner = env
    with pytest.raises(ValidationFailed):
        service.add(owner, NewMember("un1", "李四", "spouse", True, None, date(2026, 2, 28)))
    with pytest.raises(NotFound):
        service.add(owner, NewMember("un2", "李四", "spouse", True))
    assert publisher.events == []


def test_household_sweep_twice_publishes_the_expiry_once(env):
    service, members, publisher, audit, clock, owner = env
    member = service.add(owner, NewMember("un1", "李四", "spouse", True, None, date(2026, 3, 5)))
    clock.now = datetime(2026, 3, 5, 15, 59, tzinfo=UTC)
    assert service.sweep()["expired"] == 0
    clock.now = datetime(2026, 3, 5, 16, 5, tzinfo=UTC)
    assert service.sweep()["expired"] == 1
    assert service.sweep() == {"expired": 0, "republished": 0}
    assert [e.action for e in publisher.events] == ["granted", "expired"]
    assert members.get(member.member_id).access is False and members.get(member.member_id).due_at is None
    assert audit.actions("u1").count("door_access.revoked") == 1


def test_household_pending_event_survives_a_publish_failure(env):
    service, members, publisher, _, clock, owner = env
    member = service.add(owner, NewMember("un1", "李四", "spouse", True))
    publisher.down = True
    with pytest.raises(RuntimeError):
        service.remove(owner, member.member_id)
    assert members.get(member.member_id).removed is True
    publisher.down = False
    # too fresh for the sweep (the request may still be running), later it is the sweep's
    assert service.sweep()["republished"] == 0
    clock.now += timedelta(minutes=10)
    assert service.sweep()["republished"] == 1
    assert service.sweep()["republished"] == 0
    assert [e.action for e in publisher.events] == ["granted", "revoked"]
    assert members.get(member.member_id) is None
    with pytest.raises(NotFound):
        service.remove(owner, member.member_id)


def test_household_member_without_access_is_removed_without_an_event(env):
    service, members, publisher, audit, _, owner = env
    member = service.add(owner, NewMember("un1", "王五", "child", False))
    service.remove(owner, member.member_id)
    assert publisher.events == [] and members.items == {}
    assert audit.actions("u1") == ["household.added", "household.removed"]
