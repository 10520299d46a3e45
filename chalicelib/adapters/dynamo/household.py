"""DynamoDB side of the household: members, their door access and the door events still to publish."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, save_once, table_meta
from chalicelib.domain.household import DoorEvent, Member, StaleMember
from chalicelib.domain.ports import Page


class MembersByUnitIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-unit"
        projection = AllProjection()

    unit_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # "<created_at>#<member_id>"


class MembersDueIndex(GlobalSecondaryIndex):
    """Sparse: only members the door-access sweep must look at (an expiring grant, or an unsent event)."""

    class Meta:
        index_name = "by-due"
        projection = AllProjection()

    due_day = UnicodeAttribute(hash_key=True)  # UTC date of `due_at`
    due_at = UnicodeAttribute(range_key=True)  # RFC 3339 UTC


class HouseholdMemberModel(Model):
    Meta = table_meta("household-members")

    member_id = UnicodeAttribute(hash_key=True)
    unit_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    added_by = UnicodeAttribute()
    name = UnicodeAttribute()
    relation = UnicodeAttribute()
    phone = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_key = UnicodeAttribute()
    access = BooleanAttribute(default=False)
    access_until = UnicodeAttribute(null=True)
    access_expires_at = UnicodeAttribute(null=True)
    removed = BooleanAttribute(default=False)
    outbox = UnicodeAttribute(null=True)  # the pending door event, JSON
    due_day = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    version = IntAttribute()

    by_unit = MembersByUnitIndex()
    by_due = MembersDueIndex()


def _member(m: HouseholdMemberModel) -> Member:
    outbox = DoorEvent(**json.loads(m.outbox)) if m.outbox else None
    return Member(m.member_id, m.unit_id, m.community_id, m.added_by, m.name, m.relation, m.phone, m.created_at,
                  bool(m.access), m.access_until, m.access_expires_at, bool(m.removed), outbox, m.version)


def _model(member: Member, version: int) -> HouseholdMemberModel:
    due = member.due_at
    return HouseholdMemberModel(
        member.member_id, unit_id=member.unit_id, community_id=member.community_id, added_by=member.added_by,
        name=member.name, relation=member.relation, phone=member.phone, created_at=member.created_at,
        created_key=f"{member.created_at}#{member.member_id}", access=member.access,
        access_until=member.access_until, access_expires_at=member.access_expires_at, removed=member.removed,
        outbox=json.dumps(member.outbox.to_json(), ensure_ascii=False) if member.outbox else None,
        due_day=due[:10] if due else None, due_at=due, version=version)


class DynamoHousehold:
    def create(self, member: Member) -> Member:
        save_once(_model(member, 1), HouseholdMemberModel.member_id.does_not_exist())
        return _with_version(member, 1)

    def get(self, member_id: str) -> Member | None:
        try:
            return _member(HouseholdMemberModel.get(member_id, consistent_read=True))
        except DoesNotExist:
            return None

    def save(self, member: Member) -> Member:
        try:
            _model(member, member.version + 1).save(condition=HouseholdMemberModel.version == member.version)
        except PutError as error:
            if is_conditional_failure(error):
                raise StaleMember() from None
            raise
        return _with_version(member, member.version + 1)

    def delete(self, member: Member) -> None:
        try:
            HouseholdMemberModel(member.member_id).delete(condition=HouseholdMemberModel.version == member.version)
        except DeleteError as error:
            if is_conditional_failure(error):
                raise StaleMember() from None
            raise

    def list_by_unit(self, unit_id: str, limit: int, start: dict[str, Any] | None) -> Page[Member]:
        result = HouseholdMemberModel.by_unit.query(unit_id, limit=limit, last_evaluated_key=start)
        items = [_member(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)

    def due(self, day: str, until: str) -> list[Member]:
        return [_member(m) for m in HouseholdMemberModel.by_due.query(
            day, range_key_condition=HouseholdMemberModel.due_at <= until)]


def _with_version(member: Member, version: int) -> Member:
    from dataclasses import replace

    return replace(member, version=version)


HOUSEHOLD_MODELS: list[type[Model]] = [HouseholdMemberModel]
