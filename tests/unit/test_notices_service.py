"""The notice and event services' rules (API.md §8) with in-memory fakes: audiences, withdrawal, expiry, read
marks, and sign-ups within capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.model import Principal
from chalicelib.domain.notices import MAX_ATTENDEES, EventService, NewEvent, NewNotice, NoticeService
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.names import NOTICE_SMS_JOB
from tests.unit.fakes import FakeAccounts, FakeAudit, FakeCommunities, UtcClock
from tests.unit.notices_fakes import FakeEvents, FakeJobQueue, FakeNotices, add_community, add_owner

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)




def owner(user_id: str, *community_ids: str) -> Principal:
    """An owner's principal: their session lists the communities of their units, as sign-in records them."""
    return Principal(user_id, "owner", "s", frozenset(community_ids), frozenset(), False)


STAFF = Principal("s1", "staff", "s", frozenset({"c1"}), frozenset(), False)
FOREIGN_STAFF = Principal("s2", "staff", "s", frozenset({"c2"}), frozenset(), False)
# c1 has buildings b1 and b2, c2 has b9.
ALICE, BOB, CAROL, ERIN = owner("alice", "c1"), owner("bob", "c1"), owner("carol", "c2"), owner("erin", "c1")


class Setup:
    def __init__(self) -> None:
        self.clock = UtcClock(START)
        self.accounts, self.communities, self.audit = FakeAccounts(), FakeCommunities(), FakeAudit()
        self.notices, self.events, self.jobs = FakeNotices(self.accounts), FakeEvents(), FakeJobQueue()
        self.service = NoticeService(self.notices, self.accounts, self.communities, self.jobs, self.audit,
                                     clock=self.clock)
        self.event_service = EventService(self.events, self.accounts, self.communities, self.audit,
                                          clock=self.clock)
        add_community(self.communities, "c1", "b1", "b2")
        add_community(self.communities, "c2", "b9")
        add_owner(self.accounts, self.communities, "alice", [("c1", "b1")], tags=["elderly"])
        add_owner(self.accounts, self.communities, "bob", [("c1", "b2")])
        add_owner(self.accounts, self.communities, "carol", [("c2", "b9")])
        add_owner(self.accounts, self.communities, "erin", [("c1", "b1")], tags=["elderly"])

    def publish(self, title: str = "停水通知", caller: Principal = STAFF, **fields) -> str:
        fields.setdefault("community_id", "c1")
        fields.setdefault("category", "outage")
        fields.setdefault("urgency", "normal")
        cmd = NewNotice(title=title, body=f"{title}：明天上午9点至12点。", **fields)
        return self.service.publish(caller, cmd).notice_id

    def titles(self, caller: Principal, category: str | None = None) -> list[str]:
        items, _ = self.service.feed(caller, category, 50, None)
        return [entry.title for entry, _ in items]

    def sees(self, caller: Principal, notice_id: str) -> bool:
        """Whether the caller finds the notice in the feed AND can open it (the two must agree)."""
        in_feed = notice_id in {entry.notice_id for entry, _ in self.service.feed(caller, None, 50, None)[0]}
        try:
            self.service.get(caller, notice_id)
            opened = True
        except NotFound:
            opened = False
        assert in_feed == opened, (caller.user_id, notice_id, in_feed, opened)
        return opened

    def event(self, capacity: int = 10, caller: Principal = STAFF, hours: float = 48, **fields) -> str:
        fields.setdefault("community_id", "c1")
        starts = self.clock.now + timedelta(hours=hours)
        cmd = NewEvent(title="中秋游园会", description="猜灯谜", location="中心花园", starts_at=starts,
                       ends_at=starts + timedelta(hours=2), capacity=capacity, **fields)
        return self.event_service.create(caller, cmd).event_id

    def seats_left(self, event_id: str) -> int:
        return self.events.get(event_id).seats_left


@pytest.fixture
def s() -> Setup:
    return Setup()


# -- targeting ------------------------------------------------------------------------------------


def test_a_whole_community_notice_reaches_its_owners_and_no_one_else(s):
    notice_id = s.publish()
    assert s.sees(ALICE, notice_id) and s.sees(BOB, notice_id)
    assert not s.sees(CAROL, notice_id)
    with pytest.raises(NotFound):
        s.service.mark_read(CAROL, notice_id)


def test_a_building_notice_reaches_only_that_buildings_owners(s):
    notice_id = s.publish(building_ids=("b1",))
    assert s.sees(ALICE, notice_id) and s.sees(ERIN, notice_id)
    assert not s.sees(BOB, notice_id) and not s.sees(CAROL, notice_id)
    with pytest.raises(NotFound):
        s.service.mark_read(BOB, notice_id)


def test_a_tag_notice_reaches_only_owners_with_the_tag(s):
    notice_id = s.publish(tags=("elderly",))
    assert s.sees(ALICE, notice_id)
    assert not s.sees(BOB, notice_id)


def test_buildings_and_tags_are_a_union_and_an_owner_matching_both_sees_the_notice_once(s):
    notice_id = s.publish(building_ids=("b1", "b2"), tags=("elderly",))
    assert s.sees(ALICE, notice_id) and s.sees(BOB, notice_id)
    assert s.titles(ALICE) == ["停水通知"]


def test_an_owner_of_two_communities_reads_both(s):
    add_owner(s.accounts, s.communities, "gary", [("c1", "b2"), ("c2", "b9")])
    s.publish("一号小区通知")
    s.clock.advance(seconds=1)
    s.publish("二号小区通知", caller=FOREIGN_STAFF, community_id="c2")
    assert s.titles(owner("gary", "c1", "c2")) == ["二号小区通知", "一号小区通知"]
    assert s.titles(BOB) == ["一号小区通知"]


def test_staff_open_every_notice_of_their_communities_and_none_of_others(s):
    notice_id = s.publish(building_ids=("b1",))
    notice, _ = s.service.get(STAFF, notice_id)
    assert notice.title == "停水通知"
    with pytest.raises(NotFound):
        s.service.get(FOREIGN_STAFF, notice_id)


def test_staff_of_another_community_cannot_publish_or_withdraw_there(s):
    with pytest.raises(NotFound):
        s.publish(caller=FOREIGN_STAFF, urgency="urgent", send_sms=True)
    assert s.titles(BOB) == [] and s.jobs.sent == []
    notice_id = s.publish()
    with pytest.raises(NotFound):
        s.service.withdraw(FOREIGN_STAFF, notice_id)
    assert s.sees(BOB, notice_id)


@pytest.mark.parametrize("fields", [
    {"building_ids": ("b9",)},  # a building of another community
    {"tags": ("vip",)},
    {"urgency": "normal", "send_sms": True},
    {"expires_at": START - timedelta(minutes=1)},
    {"publish_at": START + timedelta(days=2), "expires_at": START + timedelta(days=1)},
])
def test_an_invalid_notice_is_refused_and_nobody_receives_anything(s, fields):
    with pytest.raises(ValidationFailed):
        s.publish(**fields)
    assert s.titles(ALICE) == [] and s.titles(BOB) == [] and s.jobs.sent == [] and s.audit.events == []


def test_only_an_urgent_notice_with_sms_queues_the_texts_once(s):
    s.publish("例行通知")
    s.publish("紧急但不发短信", urgency="urgent")
    assert s.jobs.sent == []
    notice_id = s.publish("紧急停电", urgency="urgent", send_sms=True)
    assert s.jobs.sent == [(NOTICE_SMS_JOB, {"notice_id": notice_id}, 0)]


# -- withdrawal, schedule, expiry -----------------------------------------------------------------


def test_a_withdrawn_notice_disappears_for_everyone_and_cannot_be_withdrawn_twice(s):
    notice_id = s.publish()
    s.service.withdraw(STAFF, notice_id)
    assert not s.sees(ALICE, notice_id) and not s.sees(BOB, notice_id)
    assert s.service.unread("alice") == []
    with pytest.raises(NotFound):
        s.service.get(STAFF, notice_id)
    with pytest.raises(NotFound):
        s.service.mark_read(ALICE, notice_id)
    with pytest.raises(NotFound):
        s.service.withdraw(STAFF, notice_id)
    assert s.audit.actions("s1") == ["notice.published", "notice.withdrawn"]


def test_a_scheduled_notice_appears_only_when_due(s):
    notice_id = s.publish(publish_at=START + timedelta(hours=3))
    assert not s.sees(ALICE, notice_id)
    s.clock.advance(hours=2, minutes=59)
    assert not s.sees(ALICE, notice_id)
    s.clock.advance(minutes=1)
    assert s.sees(ALICE, notice_id)


def test_an_expired_notice_is_gone_from_the_feed_the_detail_and_the_unread_list(s):
    notice_id = s.publish(expires_at=START + timedelta(hours=1))
    assert s.sees(ALICE, notice_id) and [e.notice_id for e in s.service.unread("alice")] == [notice_id]
    s.clock.advance(hours=1)
    assert not s.sees(ALICE, notice_id)
    assert s.service.unread("alice") == []
    with pytest.raises(NotFound):
        s.service.mark_read(ALICE, notice_id)


# -- the feed -------------------------------------------------------------------------------------


def test_the_feed_is_newest_first_filtered_by_category_and_pages_without_gaps_or_repeats(s):
    titles = [f"通知{i}" for i in range(7)]
    for i, title in enumerate(titles):
        s.publish(title, category="news" if i % 2 else "outage", building_ids=("b1",) if i % 3 else ())
        s.clock.advance(seconds=1)
    pages, before = [], None
    while True:
        items, before = s.service.feed(ALICE, None, 3, before)
        pages.append([entry.title for entry, _ in items])
        if before is None:
            break
    assert [t for page in pages for t in page] == titles[::-1]
    assert all(len(page) <= 3 for page in pages)
    assert s.titles(ALICE, "news") == ["通知5", "通知3", "通知1"]
    assert s.titles(BOB) == ["通知6", "通知3", "通知0"]


def test_a_feed_window_full_of_notices_for_others_still_leads_to_the_owners_older_ones(s):
    """The feed reads a window of the community's newest entries: when none of it is for the owner (or of the
    category asked), the page is short but its cursor goes on past the window, never ending the feed early."""
    mine = s.publish("一号楼通知", building_ids=("b1",))
    for i in range(45):  # newer, all for building 2 (bob's)
        s.clock.advance(seconds=1)
        s.publish(f"二号楼通知{i}", building_ids=("b2",), category="news")
    for category in (None, "outage"):
        seen, before, pages = [], None, 0
        while True:
            items, before = s.service.feed(ALICE, category, 20, before)
            seen += [entry.notice_id for entry, _ in items]
            pages += 1
            if before is None:
                break
        assert seen == [mine] and pages >= 2
    assert len([e for e, _ in s.service.feed(BOB, None, 100, None)[0]]) == 45


# -- read marks -----------------------------------------------------------------------------------


def test_read_marks_are_per_reader(s):
    first, second = s.publish("第一条"), s.publish("第二条")
    s.service.mark_read(ALICE, first)
    assert {e.title: read for e, read in s.service.feed(ALICE, None, 10, None)[0]} == {"第一条": True,
                                                                                    "第二条": False}
    assert all(not read for _, read in s.service.feed(BOB, None, 10, None)[0])
    assert s.service.get(ALICE, first)[1] is True and s.service.get(BOB, first)[1] is False
    assert [e.notice_id for e in s.service.unread("alice")] == [second]
    assert {e.notice_id for e in s.service.unread("bob")} == {first, second}


def test_reading_again_keeps_the_first_time(s):
    notice_id = s.publish()
    s.service.mark_read(ALICE, notice_id)
    s.clock.advance(hours=1)
    s.service.mark_read(ALICE, notice_id)
    assert s.notices.reads[("alice", notice_id)] == "2026-12-01T02:00:00Z"


def test_unread_gives_the_newest_few_and_nothing_for_an_unknown_owner(s):
    ids = []
    for i in range(5):
        ids.append(s.publish(f"通知{i}"))
        s.clock.advance(seconds=1)
    s.service.mark_read(ALICE, ids[4])
    assert [e.notice_id for e in s.service.unread("alice", n=3)] == [ids[3], ids[2], ids[1]]
    assert s.service.unread("nobody") == []


# -- events ---------------------------------------------------------------------------------------


def test_signups_never_exceed_capacity(s):
    event_id = s.event(capacity=4)
    s.event_service.sign_up(ALICE, event_id, 3)
    with pytest.raises(Conflict) as full:
        s.event_service.sign_up(BOB, event_id, 2)
    assert full.value.code == "event_full"
    event, _ = s.event_service.sign_up(BOB, event_id, 1)
    assert event.seats_left == 0
    with pytest.raises(Conflict) as full:
        s.event_service.sign_up(ERIN, event_id, 1)
    assert full.value.code == "event_full"
    taken = sum(signup.attendees for signup in s.event_service.signups(STAFF, event_id, 50, None).items)
    assert taken == 4


def test_a_second_signup_by_the_same_owner_is_refused_and_takes_no_seats(s):
    event_id = s.event(capacity=10)
    s.event_service.sign_up(ALICE, event_id, 2)
    with pytest.raises(Conflict) as again:
        s.event_service.sign_up(ALICE, event_id, 1)
    assert again.value.code == "already_signed_up"
    assert s.seats_left(event_id) == 8


def test_a_duplicate_signup_on_a_full_event_says_already_signed_up(s):
    event_id = s.event(capacity=1)
    s.event_service.sign_up(ALICE, event_id, 1)
    with pytest.raises(Conflict) as again:
        s.event_service.sign_up(ALICE, event_id, 1)
    assert again.value.code == "already_signed_up"


def test_cancelling_frees_the_places_for_someone_else(s):
    event_id = s.event(capacity=2)
    s.event_service.sign_up(ALICE, event_id, 2)
    s.event_service.cancel(ALICE, event_id)
    assert s.seats_left(event_id) == 2
    s.event_service.sign_up(BOB, event_id, 2)
    with pytest.raises(NotFound):
        s.event_service.cancel(ALICE, event_id)
    assert s.seats_left(event_id) == 0
    assert s.audit.actions("alice") == ["event.signed_up", "event.signup_cancelled"]


@pytest.mark.parametrize("after", [timedelta(hours=1), timedelta(hours=1, seconds=1)])
def test_signing_up_once_the_event_has_started_is_refused(s, after):
    event_id = s.event(hours=1)
    s.clock.advance(seconds=after.total_seconds())
    with pytest.raises(Conflict) as started:
        s.event_service.sign_up(ALICE, event_id, 1)
    assert started.value.code == "event_started"
    assert s.seats_left(event_id) == 10


def test_a_started_event_is_no_longer_upcoming(s):
    event_id = s.event(hours=1)
    s.clock.advance(hours=1, seconds=1)
    assert s.event_service.upcoming(ALICE, 10, None)[0] == []
    assert s.event_service.upcoming_for("alice") == []
    with pytest.raises(Conflict):
        s.event_service.sign_up(ALICE, event_id, 1)


def test_an_event_starting_this_second_is_not_offered_as_upcoming(s):
    s.event(hours=1)
    s.clock.advance(hours=1)
    assert s.event_service.upcoming(ALICE, 10, None)[0] == []


@pytest.mark.parametrize("attendees", [0, -2, MAX_ATTENDEES + 1])
def test_the_service_refuses_attendee_counts_outside_the_limits(s, attendees):
    event_id = s.event(capacity=10)
    with pytest.raises(ValidationFailed):
        s.event_service.sign_up(ALICE, event_id, attendees)
    assert s.seats_left(event_id) == 10


def test_the_attendee_limit_fits_in_capacity_exactly(s):
    event_id = s.event(capacity=MAX_ATTENDEES)
    event, signup = s.event_service.sign_up(ALICE, event_id, MAX_ATTENDEES)
    assert signup.attendees == MAX_ATTENDEES and event.seats_left == 0


def test_an_owner_outside_the_events_audience_cannot_see_sign_up_or_cancel(s):
    event_id = s.event(building_ids=("b1",))
    assert [e.event_id for e, _ in s.event_service.upcoming(ALICE, 10, None)[0]] == [event_id]
    assert s.event_service.upcoming(BOB, 10, None)[0] == []
    assert s.event_service.upcoming(CAROL, 10, None)[0] == []
    for caller in (BOB, CAROL):
        with pytest.raises(NotFound):
            s.event_service.sign_up(caller, event_id, 1)
        with pytest.raises(NotFound):
            s.event_service.cancel(caller, event_id)
    assert s.seats_left(event_id) == 10


def test_upcoming_is_soonest_first_with_my_signups_and_pages(s):
    later = s.event(hours=72)
    sooner = s.event(hours=24)
    other = s.event(hours=48, caller=FOREIGN_STAFF, community_id="c2")
    s.event_service.sign_up(ALICE, later, 1)
    items, cursor = s.event_service.upcoming(ALICE, 10, None)
    assert [(e.event_id, mine) for e, mine in items] == [(sooner, False), (later, True)] and cursor is None
    first, cursor = s.event_service.upcoming(ALICE, 1, None)
    second, _ = s.event_service.upcoming(ALICE, 1, cursor)
    assert [e.event_id for e, _ in first + second] == [sooner, later]
    assert [(e.event_id, e.seats_left, mine) for e, mine in s.event_service.upcoming_for("alice", 1)] == [
        (sooner, 10, False)]
    assert [e.event_id for e, _ in s.event_service.upcoming(CAROL, 10, None)[0]] == [other]


def test_staff_of_another_community_cannot_create_or_list_signups(s):
    with pytest.raises(NotFound):
        s.event(caller=FOREIGN_STAFF)
    event_id = s.event()
    s.event_service.sign_up(ALICE, event_id, 2)
    for caller in (FOREIGN_STAFF, ALICE):
        with pytest.raises(NotFound):
            s.event_service.signups(caller, event_id, 10, None)
    assert [(x.user_id, x.attendees) for x in s.event_service.signups(STAFF, event_id, 10, None).items] == [
        ("alice", 2)]


@pytest.mark.parametrize("hours", [0, -1])
def test_an_event_must_start_in_the_future(s, hours):
    with pytest.raises(ValidationFailed):
        s.event(hours=hours)
    assert s.events.items == {}
