"""In-memory stand-ins for the notice, event and urgent-SMS ports.

They keep state and answer each condition the way the DynamoDB adapters (`adapters/dynamo/notices.py`) do:
a notice's feed entries live in its audience partitions and are deleted on withdrawal, a feed query leaves out
scheduled and expired entries, a read mark keeps the first time, a sign-up fails with `already_signed_up` before
`event_full`, seats are taken only while `seats_left >= attendees`, and an SMS claim succeeds once per owner.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import Account, Building, Community, Unit, UnitView
from chalicelib.domain.notice_sms import SmsMessage
from chalicelib.domain.notices import Event, FeedEntry, Notice, Reader, Signup
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict
from tests.unit.fakes import FakeAccounts, FakeCommunities, _page
from tests.unit.jobs_fakes import FakeJobProgress

# -- notices --------------------------------------------------------------------------------------


class FakeNotices:
    def __init__(self, accounts: FakeAccounts | None = None) -> None:
        self.accounts = accounts  # what `account_and_reads` answers from (the adapter reads the accounts table)
        self.items: dict[str, Notice] = {}
        self.partitions: dict[str, dict[str, FeedEntry]] = {}
        self.reads: dict[tuple[str, str], str] = {}

    def create(self, notice: Notice) -> None:
        if notice.notice_id in self.items:
            raise Conflict()
        self.items[notice.notice_id] = notice
        entry = FeedEntry(notice.notice_id, notice.community_id, notice.title, notice.summary, notice.category,
                          notice.urgency, notice.publish_at, notice.expires_at, notice.sort_key, notice.audience)
        for partition in notice.audience.partitions(notice.community_id):
            self.partitions.setdefault(partition, {})[notice.sort_key] = entry

    def get(self, notice_id: str) -> Notice | None:
        return self.items.get(notice_id)

    def withdraw(self, notice: Notice, at: str) -> bool:
        current = self.items.get(notice.notice_id)
        if current is None or current.withdrawn_at is not None:
            return False
        self.items[notice.notice_id] = replace(current, withdrawn_at=at)
        for partition in notice.audience.partitions(notice.community_id):
            self.partitions.get(partition, {}).pop(notice.sort_key, None)
        return True

    def feed(self, partition: str, before: str | None, now: str, category: str | None,
             limit: int) -> tuple[list[FeedEntry], str | None]:
        # As the adapter: a cursor bounds the page, otherwise only entries due by now; `limit` entries are
        # examined, then expired ones and other categories are left out.
        def in_range(key: str) -> bool:
            return key < before if before else key <= f"{now}#~"

        entries = sorted(self.partitions.get(partition, {}).values(), key=lambda e: e.sort_key, reverse=True)
        examined = [e for e in entries if in_range(e.sort_key)][:limit]
        kept = [e for e in examined if (e.expires_at is None or e.expires_at > now) and category in (None, e.category)]
        return kept, (examined[-1].sort_key if len(examined) >= limit else None)

    def read_ids(self, user_id: str, notice_ids: Iterable[str]) -> set[str]:
        return {n for n in notice_ids if (user_id, n) in self.reads}

    def account_and_reads(self, user_id: str, notice_ids: Iterable[str]) -> tuple[Account | None, set[str]]:
        account = self.accounts.get(user_id) if self.accounts is not None else None
        return account, self.read_ids(user_id, notice_ids)

    def mark_read(self, user_id: str, notice_id: str, at: str) -> None:
        self.reads.setdefault((user_id, notice_id), at)  # already read: keep the first time


# -- events ---------------------------------------------------------------------------------------


class FakeEvents:
    def __init__(self) -> None:
        self.items: dict[str, Event] = {}
        self.signup_items: dict[tuple[str, str], Signup] = {}

    def create(self, event: Event) -> None:
        if event.event_id in self.items:
            raise Conflict()
        self.items[event.event_id] = event

    def get(self, event_id: str) -> Event | None:
        return self.items.get(event_id)

    def upcoming(self, community_id: str, after: str, limit: int) -> tuple[list[Event], bool]:
        items = sorted((e for e in self.items.values() if e.community_id == community_id and e.sort_key > after),
                       key=lambda e: e.sort_key)[:limit]
        return items, len(items) >= limit

    def sign_up(self, signup: Signup) -> None:
        # One transaction: the sign-up put (first, so its failure is reported first) and the seats update.
        if (signup.event_id, signup.user_id) in self.signup_items:
            raise Conflict("You have already signed up for this event.", code="already_signed_up")
        event = self.items.get(signup.event_id)
        if event is None or not event.seats_left >= signup.attendees:
            raise Conflict("The event is full.", code="event_full")
        self.items[event.event_id] = replace(event, seats_left=event.seats_left - signup.attendees)
        self.signup_items[(signup.event_id, signup.user_id)] = signup

    def cancel(self, event_id: str, user_id: str) -> bool:
        signup = self.signup_items.pop((event_id, user_id), None)
        if signup is None:
            return False
        event = self.items[event_id]
        self.items[event_id] = replace(event, seats_left=event.seats_left + signup.attendees)
        return True

    def signups(self, event_id: str, limit: int, start: dict[str, Any] | None) -> Page[Signup]:
        mine = sorted((s for (eid, _), s in self.signup_items.items() if eid == event_id), key=lambda s: s.user_id)
        return _page(mine, limit, start, "offset")

    def signed_up(self, user_id: str, event_ids: Iterable[str]) -> set[str]:
        return {e for e in event_ids if (e, user_id) in self.signup_items}


# -- urgent SMS -----------------------------------------------------------------------------------


class FakeOwnerDirectory:
    """A page of the community's units (by id), then their owners' accounts; staff accounts are left out.
    A full page always hands out a next position, as DynamoDB does when `Limit` is reached."""

    def __init__(self, communities: FakeCommunities, accounts: FakeAccounts) -> None:
        self._communities = communities
        self._accounts = accounts

    def owners_page(self, community_id: str, start: dict[str, Any] | None,
                    page_size: int) -> tuple[list[Reader], dict[str, Any] | None]:
        units = sorted((u for u in self._communities.units.values() if u.community_id == community_id),
                       key=lambda u: u.unit_id)
        offset = int(start["offset"]) if start else 0
        page = units[offset:offset + page_size]
        owner_ids = sorted({o for u in page for o in u.owner_ids})
        accounts = [self._accounts.get(o) for o in owner_ids]
        readers = [Reader.of(a) for a in accounts if a is not None and a.role == "owner"]
        return readers, ({"offset": offset + page_size} if len(page) >= page_size else None)


class FakeSmsQueue:
    """`timed`: each message with the second (of `clock`, if given) it was queued at."""

    def __init__(self, clock: Any = None) -> None:
        self.messages: list[SmsMessage] = []
        self.timed: list[tuple[int, SmsMessage]] = []
        self._clock = clock

    def send(self, messages: list[SmsMessage]) -> int:
        self.messages += messages
        at = int(self._clock().timestamp()) if self._clock else 0
        self.timed += [(at, m) for m in messages]
        return -(-len(messages) // 10)

    def bodies(self) -> list[dict[str, str]]:
        return [m.payload() for m in self.messages]


class FakeSentLog(FakeJobProgress):
    def __init__(self) -> None:
        super().__init__()
        self.claims: dict[tuple[str, str], str] = {}

    def claim(self, notice_id: str, user_id: str, at: str) -> bool:
        if (notice_id, user_id) in self.claims:
            return False
        self.claims[(notice_id, user_id)] = at
        return True

    def release(self, notice_id: str, user_id: str) -> None:
        self.claims.pop((notice_id, user_id), None)


class FakeSmsSender:
    """Texts are recorded as received; `blocked` phones are refused by policy, `failures` sends raise."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.blocked: set[str] = set()
        self.failures = 0

    def allowed(self, phone: str) -> bool:
        return phone not in self.blocked

    def send(self, phone: str, text: str) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("SNS is down")
        self.received.append((phone, text))
        return f"m{len(self.received)}"


class FakeJobQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], int]] = []

    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.sent.append((kind, copy.deepcopy(payload), delay_seconds))


# -- people and places ----------------------------------------------------------------------------


def add_community(communities: FakeCommunities, community_id: str, *building_ids: str) -> None:
    communities.create_community(Community(community_id, f"{community_id}小区", "上海", "Asia/Shanghai", "x"))
    for building_id in building_ids:
        communities.create_building(Building(building_id, community_id, f"{building_id}号楼", "2026-01-01T00:00:00Z"))


def add_owner(accounts: FakeAccounts, communities: FakeCommunities, user_id: str,
              units: Iterable[tuple[str, str]], tags: Iterable[str] = (), sms_notices: bool = True,
              role: str = "owner") -> Account:
    """An owner of one unit per (community, building), registered on both the account and the unit."""
    views = []
    for community_id, building_id in units:
        unit_id = f"{user_id}-{community_id}-{building_id}-{len(views)}"
        unit = Unit(unit_id, community_id, building_id, unit_id, 1, Decimal("80"), "2室1厅", "2026-01-01T00:00:00Z",
                    frozenset({user_id}))
        communities.units[unit_id] = unit
        views.append(UnitView(unit_id, community_id, f"{community_id}小区", building_id, f"{building_id}号楼",
                              unit_id, 1, Decimal("80"), "2室1厅"))
    account = Account(user_id, f"acct-{user_id}", f"业主{user_id}", f"+86139{len(accounts.items):08d}",
                      role, "x", "2026-01-01T00:00:00Z", units=views, tags=frozenset(tags),  # type: ignore[arg-type]
                      notification_prefs={"sms_notices": sms_notices})
    accounts.create(account)
    return account
