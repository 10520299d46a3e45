"""Notices, news and events (API.md §8): audiences, the owner's merged feed, scheduled publishing, sign-ups.

Feed model: one feed entry per notice in its community's partition (`c#<community>`), carrying the notice's
audience; an owner's feed reads a window of their community's entries (one query per community, not per
building or tag) and keeps those addressed to them, with the owner's account and read marks fetched in one
BatchGetItem. (Notices stored before this also had entries in `b#<community>#<building>` / `t#<community>#<tag>`
partitions; nothing reads those any more, `backfill-notice-feed` copies such notices into `c#`.) See
docs/data-model.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import TAGS, Account, AuditEvent, Principal
from chalicelib.domain.ports import AccountRepository, AuditLog, Page
from chalicelib.errors import Conflict, NotFound, ValidationFailed, field_error
from chalicelib.names import NOTICE_SMS_JOB

CATEGORIES = ("outage", "elevator", "maintenance", "news", "activity", "general")
URGENCIES = ("normal", "urgent")
MAX_ATTENDEES = 5
SUMMARY_CHARS = 80


def sms_text(title: str) -> str:
    """The text an owner receives for an urgent notice."""
    return f"【物业通知】{title}，详情请查看业主App。"


# -- audiences --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """An owner as audiences see them: communities and buildings of their units, and their tags."""

    user_id: str
    name: str
    phone: str
    community_ids: frozenset[str]
    buildings: frozenset[tuple[str, str]]  # (community_id, building_id)
    tags: frozenset[str]
    sms_notices: bool = True

    @classmethod
    def of(cls, account: Account) -> Reader:
        return cls(account.user_id, account.name, account.phone,
                   frozenset(u.community_id for u in account.units),
                   frozenset((u.community_id, u.building_id) for u in account.units),
                   frozenset(account.tags), account.notification_prefs.get("sms_notices", True) is not False)

    def feed_partitions(self) -> list[str]:
        """Every partition that can hold a notice addressed to this owner."""
        return feed_partitions(self.community_ids)


def feed_partitions(community_ids: Iterable[str]) -> list[str]:
    """The feed partitions of communities: every notice of a community is in its one partition."""
    return [f"c#{cid}" for cid in sorted(community_ids)]


@dataclass(frozen=True)
class Audience:
    """Nobody listed = the whole community; otherwise an owner matches if ANY of their buildings is listed
    OR ANY of their tags is listed (a union, never an intersection)."""

    building_ids: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @property
    def whole_community(self) -> bool:
        return not self.building_ids and not self.tags

    def includes(self, reader: Reader, community_id: str) -> bool:
        if community_id not in reader.community_ids:
            return False
        if self.whole_community:
            return True
        buildings = {bid for cid, bid in reader.buildings if cid == community_id}
        return bool(self.building_ids & buildings) or bool(self.tags & reader.tags)

    def partitions(self, community_id: str) -> list[str]:
        """The feed partitions a notice for this audience is written to (its entry carries the audience)."""
        return [f"c#{community_id}"]

    def legacy_partitions(self, community_id: str) -> list[str]:
        """Where notices stored before the one-partition feed also had entries (withdrawal removes them)."""
        if self.whole_community:
            return []
        return ([f"b#{community_id}#{bid}" for bid in sorted(self.building_ids)]
                + [f"t#{community_id}#{tag}" for tag in sorted(self.tags)])

    def as_json(self) -> dict[str, list[str]]:
        return {"building_ids": sorted(self.building_ids), "tags": sorted(self.tags)}


# -- entities -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    notice_id: str
    community_id: str
    title: str
    body: str
    category: str
    urgency: str
    audience: Audience
    send_sms: bool
    publish_at: str
    expires_at: str | None
    created_by: str
    created_at: str
    sort_key: str  # "<publish_at>#<creation time in µs>#<notice_id>": newest first, even within a second
    withdrawn_at: str | None = None

    @property
    def summary(self) -> str:
        return self.body[:SUMMARY_CHARS]

    def live(self, now: str) -> bool:
        """Published, not expired, not withdrawn."""
        return (self.withdrawn_at is None and self.publish_at <= now
                and (self.expires_at is None or self.expires_at > now))

    @property
    def texts_owners(self) -> bool:
        return self.urgency == "urgent" and self.send_sms


@dataclass(frozen=True)
class FeedEntry:
    """A notice as its feed partitions hold it (enough for a list row, without the body)."""

    notice_id: str
    community_id: str
    title: str
    summary: str
    category: str
    urgency: str
    publish_at: str
    expires_at: str | None
    sort_key: str
    audience: Audience = Audience()  # who the notice is for (entries of the community partition are filtered)


@dataclass(frozen=True)
class Event:
    event_id: str
    community_id: str
    title: str
    description: str
    location: str
    starts_at: str
    ends_at: str
    capacity: int
    seats_left: int
    audience: Audience
    created_by: str
    created_at: str

    @property
    def sort_key(self) -> str:
        return f"{self.starts_at}#{self.event_id}"


@dataclass(frozen=True)
class Signup:
    event_id: str
    user_id: str
    name: str
    phone: str
    attendees: int
    signed_up_at: str


@dataclass(frozen=True)
class NewNotice:
    community_id: str
    title: str
    body: str
    category: str
    urgency: str
    building_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    send_sms: bool = False
    publish_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class NewEvent:
    community_id: str
    title: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    building_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


# -- ports ----------------------------------------------------------------------------------------


class NoticeStore(Protocol):
    def create(self, notice: Notice) -> None:
        """Store the notice and its feed entries in one transaction."""

    def get(self, notice_id: str) -> Notice | None: ...

    def withdraw(self, notice: Notice, at: str) -> bool:
        """Mark withdrawn and remove its feed entries; False if it was already withdrawn."""

    def feed(self, partition: str, before: str | None, now: str, category: str | None,
             limit: int) -> tuple[list[FeedEntry], str | None]:
        """The live entries (of `category`, if given) among the partition's `limit` newest with sort key <
        `before` and published by `now`, newest first; and the sort key of the last entry examined when more
        may follow (where the next read resumes), else None. One read."""

    def read_ids(self, user_id: str, notice_ids: Iterable[str]) -> set[str]: ...

    def account_and_reads(self, user_id: str, notice_ids: Iterable[str]) -> tuple[Account | None, set[str]]:
        """The owner's account and which of `notice_ids` they read, in one round trip."""
        ...

    def mark_read(self, user_id: str, notice_id: str, at: str) -> None: ...


class EventStore(Protocol):
    def create(self, event: Event) -> None: ...

    def get(self, event_id: str) -> Event | None: ...

    def upcoming(self, community_id: str, after: str, limit: int) -> tuple[list[Event], bool]:
        """Events of a community with sort key > `after`, soonest first."""

    def sign_up(self, signup: Signup) -> None:
        """Atomically take the seats; raise Conflict `already_signed_up`, or `event_full` (also when gone)."""

    def cancel(self, event_id: str, user_id: str) -> bool:
        """Delete the sign-up and give its seats back atomically; False if there was none."""

    def signups(self, event_id: str, limit: int, start: dict[str, Any] | None) -> Page[Signup]: ...

    def signed_up(self, user_id: str, event_ids: Iterable[str]) -> set[str]: ...


class BuildingLookup(Protocol):
    def get_building(self, community_id: str, building_id: str) -> Any: ...


class JobQueue(Protocol):
    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None: ...


# -- shared rules ---------------------------------------------------------------------------------


def _audience(buildings: BuildingLookup, community_id: str, building_ids: Iterable[str],
              tags: Iterable[str]) -> Audience:
    unknown_tags = sorted(set(tags) - set(TAGS))
    if unknown_tags:
        raise field_error("audience.tags", f"unknown tags: {', '.join(unknown_tags)}")
    missing = [b for b in building_ids if buildings.get_building(community_id, b) is None]
    if missing:
        raise field_error("audience.building_ids", "must be buildings of the community")
    return Audience(frozenset(building_ids), frozenset(tags))


def merge_pages(partitions: list[str], fetch: Callable[[str], tuple[list[Any], bool]], limit: int,
                newest_first: bool) -> tuple[list[Any], str | None]:
    """Merge per-partition pages (each already ordered) into one page; the cursor is the last sort key.

    Every partition is ordered by the same sort key, so one key bounds the next page of all of them.
    An item found in several partitions (a notice for a building and a tag) is kept once.
    """
    candidates: dict[str, Any] = {}
    more = False
    for partition in partitions:
        items, has_more = fetch(partition)
        more = more or has_more
        for item in items:
            candidates.setdefault(item.sort_key, item)
    ordered = sorted(candidates.values(), key=lambda i: i.sort_key, reverse=newest_first)
    page = ordered[:limit]
    cursor = page[-1].sort_key if page and (more or len(ordered) > limit) else None
    return page, cursor


class _Readers:
    def __init__(self, accounts: AccountRepository):
        self._accounts = accounts

    def reader(self, caller: Principal) -> Reader:
        account = self._accounts.get(caller.user_id)
        if account is None:
            raise NotFound()
        return Reader.of(account)


# -- notices --------------------------------------------------------------------------------------

FEED_LOOKUPS = 99  # read marks fetched with the account in one BatchGetItem (100 keys at most)
HOME_WINDOW = 40  # newest entries the home screen looks through for unread notices
HOME_EVENTS_WINDOW = 20  # next events of a community the home screen looks through


def feed_window(limit: int, communities: int) -> int:
    """How many entries of each community a page reads: twice the page, within one BatchGetItem."""
    return max(1, min(max(2 * limit, 20), FEED_LOOKUPS // max(1, communities)))


def feed_page(reader: Reader, entries: list[FeedEntry], frontier: str | None, read: set[str],
              limit: int) -> tuple[list[tuple[FeedEntry, bool]], str | None]:
    """The page of `entries` addressed to `reader`, with read flags, and the next page's cursor: the last
    notice shown when more matched, else the frontier of what was read (None at the end)."""
    mine = [e for e in entries if e.audience.includes(reader, e.community_id)]
    page = mine[:limit]
    cursor = page[-1].sort_key if len(mine) > limit else frontier
    return [(e, e.notice_id in read) for e in page], cursor


def unread_of(reader: Reader, entries: list[FeedEntry], read: set[str], n: int) -> list[FeedEntry]:
    """The newest `n` entries addressed to `reader` that they have not read."""
    return [e for e in entries if e.audience.includes(reader, e.community_id) and e.notice_id not in read][:n]


class NoticeService(_Readers):
    def __init__(self, store: NoticeStore, accounts: AccountRepository, buildings: BuildingLookup, jobs: JobQueue,
                 audit: AuditLog, clock: Callable[[], datetime] = utcnow):
        super().__init__(accounts)
        self._store = store
        self._buildings = buildings
        self._jobs = jobs
        self._audit = audit
        self._clock = clock

    def publish(self, caller: Principal, cmd: NewNotice) -> Notice:
        """Create a notice (published now or at `publish_at`); an urgent one with `send_sms` queues one SMS job."""
        if not caller.can_access_community(cmd.community_id):
            raise NotFound()
        now = self._clock()
        problems: dict[str, str] = {}
        publish_at = max(cmd.publish_at or now, now)
        if cmd.expires_at is not None and cmd.expires_at <= publish_at:
            problems["expires_at"] = "must be after publish_at and in the future"
        if cmd.send_sms and cmd.urgency != "urgent":
            problems["send_sms"] = "is only allowed for urgent notices"
        if problems:
            raise ValidationFailed("Some fields are not valid.", details={"fields": problems})
        audience = _audience(self._buildings, cmd.community_id, cmd.building_ids, cmd.tags)
        notice_id = new_id("n")
        notice = Notice(notice_id, cmd.community_id, cmd.title, cmd.body, cmd.category, cmd.urgency, audience,
                        cmd.send_sms, iso(publish_at), iso(cmd.expires_at) if cmd.expires_at else None,
                        caller.user_id, iso(now), f"{iso(publish_at)}#{now.strftime('%Y%m%d%H%M%S%f')}#{notice_id}")
        self._store.create(notice)
        if notice.texts_owners:
            self._jobs.send(NOTICE_SMS_JOB, {"notice_id": notice.notice_id})
        self._audit.record(AuditEvent(caller.user_id, notice.created_at, "notice.published", notice.title,
                                      notice.notice_id))
        return notice

    def withdraw(self, caller: Principal, notice_id: str) -> None:
        notice = self._store.get(notice_id)
        if notice is None or notice.withdrawn_at is not None or not caller.can_access_community(notice.community_id):
            raise NotFound()
        if not self._store.withdraw(notice, iso(self._clock())):
            raise NotFound()
        self._audit.record(AuditEvent(caller.user_id, iso(self._clock()), "notice.withdrawn", notice.title,
                                      notice.notice_id))

    def feed(self, caller: Principal, category: str | None, limit: int,
             before: str | None) -> tuple[list[tuple[FeedEntry, bool]], str | None]:
        """The caller's notices, newest first, each with its read flag; and the cursor of the next page.

        Reads a window of the caller's communities' entries (one query each), then the account and read marks
        together; a page may hold fewer than `limit` notices when the window held notices for others.
        """
        window = feed_window(limit, len(caller.community_ids))
        entries, frontier = self.candidates(caller.community_ids, category, before, window)
        account, read = self._store.account_and_reads(caller.user_id, [e.notice_id for e in entries])
        if account is None:
            raise NotFound()
        return feed_page(Reader.of(account), entries, frontier, read, limit)

    def candidates(self, community_ids: Iterable[str], category: str | None, before: str | None,
                   window: int) -> tuple[list[FeedEntry], str | None]:
        """Up to `window` newest live entries of each community, merged newest first, and the frontier: the
        oldest sort key down to which every partition was read (None when all were read to the end)."""
        now = iso(self._clock())
        merged: dict[str, FeedEntry] = {}
        frontier: str | None = None
        for partition in feed_partitions(community_ids):
            items, resume = self._store.feed(partition, before, now, category, window)
            for item in items:
                merged.setdefault(item.sort_key, item)
            if resume is not None:
                frontier = max(frontier or "", resume)
        ordered = sorted(merged.values(), key=lambda e: e.sort_key, reverse=True)
        return [e for e in ordered if frontier is None or e.sort_key >= frontier], frontier

    def unread(self, user_id: str, n: int = 3, max_pages: int = 3) -> list[FeedEntry]:
        """Up to `n` unread published notices for an owner, newest first (for the home screen)."""
        account = self._accounts.get(user_id)
        if account is None:
            return []
        reader = Reader.of(account)
        entries, _ = self.candidates(reader.community_ids, None, None, HOME_WINDOW)
        return unread_of(reader, entries, self._store.read_ids(user_id, [e.notice_id for e in entries]), n)

    def get(self, caller: Principal, notice_id: str) -> tuple[Notice, bool]:
        notice = self._visible(caller, notice_id)
        return notice, bool(self._store.read_ids(caller.user_id, [notice_id]))

    def mark_read(self, caller: Principal, notice_id: str) -> None:
        self._visible(caller, notice_id)
        self._store.mark_read(caller.user_id, notice_id, iso(self._clock()))

    def _visible(self, caller: Principal, notice_id: str) -> Notice:
        notice = self._store.get(notice_id)
        if notice is None or not notice.live(iso(self._clock())):
            raise NotFound()
        if caller.is_staff:
            if not caller.can_access_community(notice.community_id):
                raise NotFound()
            return notice
        if caller.role != "owner" or not notice.audience.includes(self.reader(caller), notice.community_id):
            raise NotFound()
        return notice


# -- events ---------------------------------------------------------------------------------------


class EventService(_Readers):
    def __init__(self, store: EventStore, accounts: AccountRepository, buildings: BuildingLookup, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        super().__init__(accounts)
        self._store = store
        self._buildings = buildings
        self._audit = audit
        self._clock = clock

    def create(self, caller: Principal, cmd: NewEvent) -> Event:
        if not caller.can_access_community(cmd.community_id):
            raise NotFound()
        problems: dict[str, str] = {}
        if cmd.starts_at <= self._clock():
            problems["starts_at"] = "must be in the future"
        if cmd.ends_at <= cmd.starts_at:
            problems["ends_at"] = "must be after starts_at"
        if problems:
            raise ValidationFailed("Some fields are not valid.", details={"fields": problems})
        audience = _audience(self._buildings, cmd.community_id, cmd.building_ids, cmd.tags)
        event = Event(new_id("ev"), cmd.community_id, cmd.title, cmd.description, cmd.location, iso(cmd.starts_at),
                      iso(cmd.ends_at), cmd.capacity, cmd.capacity, audience, caller.user_id, iso(self._clock()))
        self._store.create(event)
        return event

    def upcoming(self, caller: Principal, limit: int,
                 after: str | None) -> tuple[list[tuple[Event, bool]], str | None]:
        """Upcoming events addressed to the caller, soonest first, with `signed_up`."""
        return self._upcoming(self.reader(caller), limit, after)

    def upcoming_for(self, user_id: str, n: int = 3) -> list[tuple[Event, bool]]:
        """Up to `n` upcoming events for an owner with `seats_left` and `signed_up` (for the home screen)."""
        account = self._accounts.get(user_id)
        if account is None:
            return []
        return self._upcoming(Reader.of(account), n, None)[0]

    def upcoming_candidates(self, community_ids: Iterable[str], window: int = HOME_EVENTS_WINDOW) -> list[Event]:
        """The next `window` events of each community, soonest first, for any audience (one query each)."""
        start = iso(self._clock()) + "#~"
        found = [e for cid in sorted(community_ids) for e in self._store.upcoming(cid, start, window)[0]]
        return sorted(found, key=lambda e: e.sort_key)

    def _upcoming(self, reader: Reader, limit: int, after: str | None) -> tuple[list[tuple[Event, bool]], str | None]:
        # An event starting this very second has started (sign_up refuses it): sort keys are "<starts_at>#<id>",
        # so the bound is past every key of the current second.
        start = max(after or "", iso(self._clock()) + "#~")

        def fetch(community_id: str) -> tuple[list[Event], bool]:
            # Events are few per community: read the community's upcoming ones and keep the caller's.
            kept: list[Event] = []
            bound, more = start, True
            while more and len(kept) < limit:
                events, more = self._store.upcoming(community_id, bound, limit)
                if not events:
                    break
                kept += [e for e in events if e.audience.includes(reader, community_id)]
                bound = events[-1].sort_key
            return kept[:limit], more or len(kept) > limit

        page, cursor = merge_pages(sorted(reader.community_ids), fetch, limit, False)
        mine = self._store.signed_up(reader.user_id, [e.event_id for e in page]) if page else set()
        return [(e, e.event_id in mine) for e in page], cursor

    def sign_up(self, caller: Principal, event_id: str, attendees: int) -> tuple[Event, Signup]:
        if not 1 <= attendees <= MAX_ATTENDEES:
            raise field_error("attendees", f"must be between 1 and {MAX_ATTENDEES}")
        reader = self.reader(caller)
        event = self._visible_event(reader, event_id)
        if event.starts_at <= iso(self._clock()):
            raise Conflict("The event has already started.", code="event_started")
        signup = Signup(event_id, reader.user_id, reader.name, reader.phone, attendees, iso(self._clock()))
        self._store.sign_up(signup)
        self._audit.record(AuditEvent(reader.user_id, signup.signed_up_at, "event.signed_up", event.title, event_id))
        return self._store.get(event_id) or event, signup

    def cancel(self, caller: Principal, event_id: str) -> None:
        reader = self.reader(caller)
        event = self._visible_event(reader, event_id)
        if not self._store.cancel(event_id, reader.user_id):
            raise NotFound("You are not signed up for this event.")
        self._audit.record(AuditEvent(reader.user_id, iso(self._clock()), "event.signup_cancelled", event.title,
                                      event_id))

    def signups(self, caller: Principal, event_id: str, limit: int,
                start: dict[str, Any] | None) -> Page[Signup]:
        event = self._store.get(event_id)
        # staff only: an owner's session lists their communities too, and sign-ups hold names and phones
        if event is None or not caller.is_staff or not caller.can_access_community(event.community_id):
            raise NotFound()
        return self._store.signups(event_id, limit, start)

    def _visible_event(self, reader: Reader, event_id: str) -> Event:
        event = self._store.get(event_id)
        if event is None or not event.audience.includes(reader, event.community_id):
            raise NotFound()
        return event


def events_for(reader: Reader, events: list[Event], signed_up: set[str], n: int) -> list[tuple[Event, bool]]:
    """The first `n` of `events` addressed to `reader`, each with whether they signed up."""
    mine = [e for e in events if e.audience.includes(reader, e.community_id)][:n]
    return [(e, e.event_id in signed_up) for e in mine]


def due_in_seconds(publish_at: str, now: datetime) -> int:
    """Seconds until `publish_at` (0 when due)."""
    due = datetime.fromisoformat(publish_at.replace("Z", "+00:00"))
    return max(0, int((due - now) / timedelta(seconds=1)) + 1) if due > now else 0


__all__ = ["CATEGORIES", "URGENCIES", "Audience", "Event", "EventService", "FeedEntry", "NewEvent", "NewNotice",
           "Notice", "NoticeService", "Reader", "Signup", "events_for", "feed_page", "merge_pages", "sms_text",
           "unread_of"]
