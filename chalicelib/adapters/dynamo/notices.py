"""Tables and repositories of notices and events (API.md §8). Access patterns: docs/data-model.md."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import IntAttribute, Model, is_conditional_failure, save_once, table_meta
from chalicelib.adapters.dynamo.jobs import DynamoJobProgress
from chalicelib.adapters.dynamo.lookups import get_across
from chalicelib.adapters.dynamo.models import AccountModel, UnitModel
from chalicelib.adapters.dynamo.repositories import account_from_model, connection
from chalicelib.domain.model import Account
from chalicelib.domain.notices import Audience, Event, FeedEntry, Notice, Reader, Signup
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict

BATCH_GET = 100


class NoticeModel(Model):
    """A notice by id (the source of truth; the feed holds copies of the list fields)."""

    Meta = table_meta("notices")

    notice_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    category = UnicodeAttribute()
    urgency = UnicodeAttribute()
    building_ids = UnicodeSetAttribute(default=set)
    tags = UnicodeSetAttribute(default=set)
    send_sms = BooleanAttribute(default=False)
    publish_at = UnicodeAttribute()
    expires_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    sort_key = UnicodeAttribute()  # the notice's sort key in its feed partitions
    withdrawn_at = UnicodeAttribute(null=True)


class NoticeFeedModel(Model):
    """One entry per notice in its community's partition `c#<cid>`, with the notice's audience (owners'
    feeds filter on it). Notices stored before this also have entries in `b#<cid>#<bid>` / `t#<cid>#<tag>`,
    read by nothing now and removed on withdrawal."""

    Meta = table_meta("notice-feed")

    partition = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # "<publish_at>#<µs>#<notice_id>": newest first, due ones only
    notice_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    title = UnicodeAttribute()
    summary = UnicodeAttribute()
    category = UnicodeAttribute()
    urgency = UnicodeAttribute()
    publish_at = UnicodeAttribute()
    expires_at = UnicodeAttribute(null=True)
    building_ids = UnicodeSetAttribute(null=True)  # the audience; both absent: the whole community
    tags = UnicodeSetAttribute(null=True)


class NoticeReadModel(Model):
    Meta = table_meta("notice-reads")

    user_id = UnicodeAttribute(hash_key=True)
    notice_id = UnicodeAttribute(range_key=True)
    read_at = UnicodeAttribute()


class NoticeSmsSentModel(Model):
    """Dedupe record of urgent SMS: one item per (notice, owner), claimed with `attribute_not_exists`."""

    Meta = table_meta("notice-sms-sent")

    notice_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    sent_at = UnicodeAttribute()
    ttl = TTLAttribute()


class EventsByCommunityIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community"
        projection = AllProjection()

    community_id = UnicodeAttribute(hash_key=True)
    starts_at_id = UnicodeAttribute(range_key=True)  # "<starts_at>#<event_id>"


class EventModel(Model):
    Meta = table_meta("events")

    event_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute()
    starts_at_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute()
    location = UnicodeAttribute()
    starts_at = UnicodeAttribute()
    ends_at = UnicodeAttribute()
    capacity = IntAttribute()
    seats_left = IntAttribute()  # conditions can't do arithmetic: seats are taken with `seats_left >= n`
    building_ids = UnicodeSetAttribute(default=set)
    tags = UnicodeSetAttribute(default=set)
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()

    by_community = EventsByCommunityIndex()


class EventSignupModel(Model):
    Meta = table_meta("event-signups")

    event_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    phone = UnicodeAttribute()
    attendees = IntAttribute()
    signed_up_at = UnicodeAttribute()


NOTICE_MODELS: list[type[Model]] = [NoticeModel, NoticeFeedModel, NoticeReadModel, NoticeSmsSentModel, EventModel,
                                    EventSignupModel]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- notices --------------------------------------------------------------------------------------


def _notice(m: NoticeModel) -> Notice:
    return Notice(m.notice_id, m.community_id, m.title, m.body, m.category, m.urgency,
                  Audience(frozenset(m.building_ids or ()), frozenset(m.tags or ())), bool(m.send_sms),
                  m.publish_at, m.expires_at, m.created_by, m.created_at, m.sort_key, m.withdrawn_at)


class DynamoNotices:
    def create(self, notice: Notice) -> None:
        model = NoticeModel(
            notice.notice_id, community_id=notice.community_id, title=notice.title, body=notice.body,
            category=notice.category, urgency=notice.urgency, building_ids=set(notice.audience.building_ids) or None,
            tags=set(notice.audience.tags) or None, send_sms=notice.send_sms, publish_at=notice.publish_at,
            expires_at=notice.expires_at, created_by=notice.created_by, created_at=notice.created_at,
            sort_key=notice.sort_key)
        with TransactWrite(connection=connection()) as tx:
            tx.save(model, condition=NoticeModel.notice_id.does_not_exist())
            for entry in feed_entries(notice):
                tx.save(entry)

    def get(self, notice_id: str) -> Notice | None:
        try:
            return _notice(NoticeModel.get(notice_id))
        except NoticeModel.DoesNotExist:
            return None

    def withdraw(self, notice: Notice, at: str) -> bool:
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(NoticeModel(notice.notice_id), actions=[NoticeModel.withdrawn_at.set(at)],
                          condition=NoticeModel.notice_id.exists() & NoticeModel.withdrawn_at.does_not_exist())
                for partition in [*notice.audience.partitions(notice.community_id),
                                  *notice.audience.legacy_partitions(notice.community_id)]:
                    tx.delete(NoticeFeedModel(partition, notice.sort_key))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def feed(self, partition: str, before: str | None, now: str, category: str | None,
             limit: int) -> tuple[list[FeedEntry], str | None]:
        # Sort keys start with publish_at: "<= now#~" leaves out scheduled notices until they are due.
        bound = NoticeFeedModel.sort_key < before if before else NoticeFeedModel.sort_key <= f"{now}#~"
        # No filter expression: with one, PynamoDB would query page after page until `limit` items pass it.
        # Expiry and category are checked here, on exactly one page of `limit` entries (one call).
        examined = list(NoticeFeedModel.query(partition, range_key_condition=bound, scan_index_forward=False,
                                              limit=limit))
        items = [FeedEntry(m.notice_id, m.community_id, m.title, m.summary, m.category, m.urgency, m.publish_at,
                           m.expires_at, m.sort_key, Audience(frozenset(m.building_ids or ()), frozenset(m.tags or ())))
                 for m in examined
                 if (m.expires_at is None or m.expires_at > now) and category in (None, m.category)]
        return items, (examined[-1].sort_key if len(examined) >= limit else None)

    def read_ids(self, user_id: str, notice_ids: Iterable[str]) -> set[str]:
        keys = [(user_id, n) for n in dict.fromkeys(notice_ids)]
        found: set[str] = set()
        for chunk in _chunks(keys, BATCH_GET):
            found |= {m.notice_id for m in NoticeReadModel.batch_get(chunk, attributes_to_get=["notice_id"])}
        return found

    def account_and_reads(self, user_id: str, notice_ids: Iterable[str]) -> tuple[Account | None, set[str]]:
        found = get_across([(AccountModel, [(user_id,)]),
                            (NoticeReadModel, [(user_id, n) for n in notice_ids])])
        accounts = found[AccountModel]
        return (account_from_model(accounts[0]) if accounts else None,
                {m.notice_id for m in found[NoticeReadModel]})

    def mark_read(self, user_id: str, notice_id: str, at: str) -> None:
        try:
            save_once(NoticeReadModel(user_id, notice_id, read_at=at), NoticeReadModel.notice_id.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):  # already read: keep the first time
                raise


def feed_entries(notice: Notice) -> list[NoticeFeedModel]:
    """The feed entries of a notice: one in its community's partition, carrying the audience."""
    return [NoticeFeedModel(
        partition, notice.sort_key, notice_id=notice.notice_id, community_id=notice.community_id,
        title=notice.title, summary=notice.summary, category=notice.category, urgency=notice.urgency,
        publish_at=notice.publish_at, expires_at=notice.expires_at,
        building_ids=set(notice.audience.building_ids) or None, tags=set(notice.audience.tags) or None)
        for partition in notice.audience.partitions(notice.community_id)]


def backfill_feed() -> int:
    """Give notices stored before the one-partition feed their entry in `c#<community>` (idempotent puts).

    Only live targeted notices need it: whole-community ones were in `c#` already and carry no audience.
    """
    written = 0
    with NoticeFeedModel.batch_write() as batch:
        for m in NoticeModel.scan():
            notice = _notice(m)
            if notice.withdrawn_at is None and not notice.audience.whole_community:
                for entry in feed_entries(notice):
                    batch.save(entry)
                    written += 1
    return written


class DynamoSentLog(DynamoJobProgress):
    """Who was texted about which notice, and (through `DynamoJobProgress`) each fan-out's progress."""

    def claim(self, notice_id: str, user_id: str, at: str) -> bool:
        try:
            save_once(NoticeSmsSentModel(notice_id, user_id, sent_at=at, ttl=datetime.now(UTC) + timedelta(days=90)),
                      NoticeSmsSentModel.user_id.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release(self, notice_id: str, user_id: str) -> None:
        NoticeSmsSentModel(notice_id, user_id).delete()


class DynamoOwnerDirectory:
    """Owners of a community: a page of units by the `by-community` index, then their accounts by BatchGet."""

    def owners_page(self, community_id: str, start: dict[str, Any] | None,
                    page_size: int) -> tuple[list[Reader], dict[str, Any] | None]:
        result = UnitModel.by_community.query(community_id, limit=page_size, last_evaluated_key=start,
                                              attributes_to_get=["unit_id", "community_id", "building_unit",
                                                                 "owner_ids"])
        units = list(result)
        owner_ids = sorted({o for u in units for o in (u.owner_ids or ())})
        readers: list[Reader] = []
        for chunk in _chunks(owner_ids, BATCH_GET):
            readers += [Reader.of(account_from_model(m)) for m in AccountModel.batch_get(chunk)
                        if m.role == "owner"]
        return readers, (result.last_evaluated_key if len(units) >= page_size else None)


# -- events ---------------------------------------------------------------------------------------


def _event(m: EventModel) -> Event:
    return Event(m.event_id, m.community_id, m.title, m.description, m.location, m.starts_at, m.ends_at, m.capacity,
                 m.seats_left, Audience(frozenset(m.building_ids or ()), frozenset(m.tags or ())), m.created_by,
                 m.created_at)


class DynamoEvents:
    def create(self, event: Event) -> None:
        model = EventModel(
            event.event_id, community_id=event.community_id, starts_at_id=event.sort_key, title=event.title,
            description=event.description, location=event.location, starts_at=event.starts_at,
            ends_at=event.ends_at, capacity=event.capacity, seats_left=event.seats_left,
            building_ids=set(event.audience.building_ids) or None, tags=set(event.audience.tags) or None,
            created_by=event.created_by, created_at=event.created_at)
        save_once(model, EventModel.event_id.does_not_exist())

    def get(self, event_id: str) -> Event | None:
        try:
            return _event(EventModel.get(event_id, consistent_read=True))
        except EventModel.DoesNotExist:
            return None

    def upcoming(self, community_id: str, after: str, limit: int) -> tuple[list[Event], bool]:
        items = [_event(m) for m in EventModel.by_community.query(
            community_id, range_key_condition=EventModel.starts_at_id > after, limit=limit)]
        return items, len(items) >= limit

    def sign_up(self, signup: Signup) -> None:
        n = signup.attendees
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(EventSignupModel(signup.event_id, signup.user_id, name=signup.name, phone=signup.phone,
                                         attendees=n, signed_up_at=signup.signed_up_at),
                        condition=EventSignupModel.user_id.does_not_exist())
                tx.update(EventModel(signup.event_id), actions=[EventModel.seats_left.add(-n)],
                          condition=EventModel.event_id.exists() & (EventModel.seats_left >= n))
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise Conflict("You have already signed up for this event.", code="already_signed_up") from None
            raise Conflict("The event is full.", code="event_full") from None

    def cancel(self, event_id: str, user_id: str) -> bool:
        try:
            signup = EventSignupModel.get(event_id, user_id, consistent_read=True)
        except EventSignupModel.DoesNotExist:
            return False
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.delete(signup, condition=EventSignupModel.attendees == signup.attendees)
                tx.update(EventModel(event_id), actions=[EventModel.seats_left.add(signup.attendees)],
                          condition=EventModel.event_id.exists())
        except TransactWriteError as error:
            if is_conditional_failure(error):
                return False  # another cancellation won
            raise
        return True

    def signups(self, event_id: str, limit: int, start: dict[str, Any] | None) -> Page[Signup]:
        result = EventSignupModel.query(event_id, limit=limit, last_evaluated_key=start)
        items = [Signup(m.event_id, m.user_id, m.name, m.phone, m.attendees, m.signed_up_at) for m in result]
        return Page(items, result.last_evaluated_key if len(items) >= limit else None)

    def signed_up(self, user_id: str, event_ids: Iterable[str]) -> set[str]:
        keys = [(e, user_id) for e in dict.fromkeys(event_ids)]
        found: set[str] = set()
        for chunk in _chunks(keys, BATCH_GET):
            found |= {m.event_id for m in EventSignupModel.batch_get(chunk, attributes_to_get=["event_id"])}
        return found
