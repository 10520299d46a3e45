"""PynamoDB models of the platform tables: accounts, unique keys, sessions, community structure, audit.

Each model is the single definition of its table: the local stack, the tests and infra/ create tables
from these classes (see `chalicelib/resources.py`). Access patterns are documented in docs/data-model.md.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.adapters.dynamo.base import IntAttribute, Model, table_meta


class UnitSummary(MapAttribute):
    """A denormalised copy of a unit on the owner's account, so `GET /me` is a single read."""

    unit_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    community_name = UnicodeAttribute()
    building_id = UnicodeAttribute()
    building_name = UnicodeAttribute()
    unit_no = UnicodeAttribute()
    floor = IntAttribute()
    area_m2 = UnicodeAttribute()  # decimal kept exact as text, e.g. "89.56"
    layout = UnicodeAttribute()


class AccountModel(Model):
    Meta = table_meta("accounts")

    user_id = UnicodeAttribute(hash_key=True)
    account = UnicodeAttribute()
    name = UnicodeAttribute()
    phone = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    must_change_password = BooleanAttribute(default=False)
    community_ids = UnicodeSetAttribute(default=set)
    units = ListAttribute(of=UnitSummary, default=list)
    tags = UnicodeSetAttribute(default=set)
    notification_prefs = MapAttribute(default=dict)
    failed_logins = IntAttribute(default=0)
    locked_until = NumberAttribute(null=True)
    totp_secret = UnicodeAttribute(null=True)  # envelope-encrypted, never plain
    totp_pending_secret = UnicodeAttribute(null=True)
    totp_last_step = IntAttribute(null=True)
    devices_valid_after = NumberAttribute(null=True)  # trusted devices registered before this are void
    created_at = UnicodeAttribute()


class UniqueKeyModel(Model):
    """Claims of unique values (account name, phone, unit number in a building): one item per value.

    Written in the same transaction as the item that owns the value, with `attribute_not_exists`, so two
    concurrent creations of the same value can never both succeed.
    """

    Meta = table_meta("unique-keys")

    key = UnicodeAttribute(hash_key=True)  # e.g. "account#alice", "phone#+8613800138000"
    owner_id = UnicodeAttribute()


class SessionsByUserIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-user"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True)


class SessionModel(Model):
    """A login session. The access token names it; every request reads it once (revocation is immediate)."""

    Meta = table_meta("sessions")

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    community_ids = UnicodeSetAttribute(default=set)
    unit_ids = UnicodeSetAttribute(default=set)
    must_change_password = BooleanAttribute(default=False)
    refresh_hash = UnicodeAttribute()
    rotated_hashes = ListAttribute(of=UnicodeAttribute, default=list)
    revoked = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()

    by_user = SessionsByUserIndex()


class AllCommunitiesIndex(GlobalSecondaryIndex):
    """Every community in one small partition (a property company has hundreds, not millions)."""

    class Meta:
        index_name = "all"
        projection = KeysOnlyProjection()

    listing = UnicodeAttribute(hash_key=True)  # always "community"
    community_id = UnicodeAttribute(range_key=True)


class CommunityModel(Model):
    Meta = table_meta("communities")

    community_id = UnicodeAttribute(hash_key=True)
    listing = UnicodeAttribute(default="community")
    name = UnicodeAttribute()
    address = UnicodeAttribute()
    timezone = UnicodeAttribute()
    created_at = UnicodeAttribute()

    all_communities = AllCommunitiesIndex()


class BuildingModel(Model):
    Meta = table_meta("buildings")

    community_id = UnicodeAttribute(hash_key=True)
    building_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()


class UnitsByCommunityIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community"
        projection = AllProjection()

    community_id = UnicodeAttribute(hash_key=True)
    building_unit = UnicodeAttribute(range_key=True)  # "<building_id>#<unit_no>"


class UnitModel(Model):
    Meta = table_meta("units")

    unit_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute()
    building_id = UnicodeAttribute()
    building_unit = UnicodeAttribute()
    unit_no = UnicodeAttribute()
    floor = IntAttribute()
    area_m2 = UnicodeAttribute()
    layout = UnicodeAttribute()
    owner_ids = UnicodeSetAttribute(default=set)
    created_at = UnicodeAttribute()

    by_community = UnitsByCommunityIndex()


class AuditEventModel(Model):
    """An account's history (`GET /me/history`): one partition per user, sorted by time."""

    Meta = table_meta("audit")

    user_id = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)  # "<RFC 3339 time>#<event id>"
    at = UnicodeAttribute()
    action = UnicodeAttribute()
    summary = UnicodeAttribute()
    ref = UnicodeAttribute(null=True)


PLATFORM_MODELS: list[type[Model]] = [
    AccountModel,
    UniqueKeyModel,
    SessionModel,
    CommunityModel,
    BuildingModel,
    UnitModel,
    AuditEventModel,
]
