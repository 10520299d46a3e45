"""The repair state machine and the service's rules, with in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.domain.model import Account, Principal, Unit
from chalicelib.domain.repairs import (
    STATUSES,
    TRANSITIONS,
    NewRepair,
    RepairNotifier,
    RepairService,
    can_move,
    move,
)
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from tests.unit.fakes import FakeAccounts, FakeAudit, FakeCommunities
from tests.unit.repairs_fakes import FakeJobs, FakeRepairs, FakeSms, FakeUploads

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
ALLOWED = {
    ("submitted", "assigned", "staff"),
    ("assigned", "accepted", "staff"), ("assigned", "accepted", "assignee"),
    ("accepted", "in_progress", "staff"), ("accepted", "in_progress", "assignee"),
    ("in_progress", "completed", "staff"), ("in_progress", "completed", "assignee"),
    ("submitted", "cancelled", "owner"), ("assigned", "cancelled", "owner"), ("accepted", "cancelled", "owner"),
    ("submitted", "rejected", "staff"), ("assigned", "rejected", "staff"), ("accepted", "rejected", "staff"),
}


@pytest.mark.parametrize("source", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
@pytest.mark.parametrize("actor", ["owner", "staff", "assignee"])
def test_can_move_allows_exactly_the_documented_transitions(source, target, actor):
    assert can_move(source, target, actor) == ((source, target, actor) in ALLOWED)


def test_transition_table_matches_the_documented_list():
    assert {(s, t, a) for (s, t), actors in TRANSITIONS.items() for a in actors} == ALLOWED


class Setup:
    def __init__(self) -> None:
        self.repairs, self.accounts, self.communities = FakeRepairs(), FakeAccounts(), FakeCommunities()
        self.audit, self.uploads, self.jobs, self.sms = FakeAudit(), FakeUploads(), FakeJobs(), FakeSms()
        self.service = RepairService(self.repairs, self.accounts, self.communities, self.audit, self.uploads,
                                     self.jobs, clock=lambda: NOW)
        self.notifier = RepairNotifier(self.repairs, self.accounts, self.communities, self.sms)
        from chalicelib.domain.model import Community

        self.communities.create_community(Community("c1", "阳光小区", "上海", "Asia/Shanghai", "x"))
        self.communities.create_community(Community("c2", "别的小区", "上海", "Asia/Shanghai", "x"))
        self.communities.create_unit(Unit("unit1", "c1", "b1", "101", 1, Decimal("89.56"), "3室", "x"))
        self.communities.create_unit(Unit("unit2", "c1", "b1", "102", 1, Decimal("89.56"), "3室", "x"))
        self.owner = Principal("o1", "owner", "s", frozenset(), frozenset({"unit1"}), False)
        self.other_owner = Principal("o2", "owner", "s", frozenset(), frozenset({"unit2"}), False)
        self.staff = Principal("s1", "staff", "s", frozenset({"c1"}), frozenset(), False)
        self.foreign_staff = Principal("s2", "staff", "s", frozenset({"c2"}), frozenset(), False)
        self.tech = Principal("t1", "technician", "s", frozenset({"c1"}), frozenset(), False)
        self.other_tech = Principal("t2", "technician", "s", frozenset({"c1"}), frozenset(), False)
        for user_id, role, communities, phone in (("o1", "owner", (), "+8613800000001"),
                                                  ("t1", "technician", ("c1",), "+8613800000002"),
                                                  ("t2", "technician", ("c1",), "+8613800000003"),
                                                  ("t9", "technician", ("c2",), "+8613800000009")):
            self.accounts.create(Account(user_id, f"acc{user_id}", f"王{user_id}", phone, role, "h", "x",
                                         community_ids=frozenset(communities)))

    def submit(self) -> str:
        return self.service.submit(self.owner, NewRepair("unit1", "repair", "plumbing", "厨房", "水管漏水")).repair_id

    def assigned(self) -> str:
        repair_id = self.submit()
        self.service.assign(self.staff, repair_id, "t1", datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
        return repair_id

    def completed(self) -> str:
        repair_id = self.assigned()
        for status in ("accepted", "in_progress", "completed"):
            self.service.set_status(self.tech, repair_id, status, None)
        return repair_id


@pytest.fixture
def s() -> Setup:
    return Setup()


def test_submit_creates_a_submitted_request_with_a_timeline_and_history(s):
    repair = s.service.submit(s.owner, NewRepair("unit1", "repair", "plumbing", "厨房", "水管漏水"))
    assert repair.status == "submitted" and repair.community_id == "c1"
    assert [(e.status, e.actor_role) for e in repair.timeline] == [("submitted", "owner")]
    assert s.audit.actions("o1") == ["repair.created"]


def test_submit_for_a_unit_not_owned_is_not_found(s):
    with pytest.raises(NotFound):
        s.service.submit(s.owner, NewRepair("unit2", "repair", "plumbing", "厨房", "漏水"))


def test_submit_repair_with_unknown_category_is_invalid(s):
    with pytest.raises(ValidationFailed):
        s.service.submit(s.owner, NewRepair("unit1", "repair", "roof", "厨房", "漏水"))


def test_submit_housekeeping_accepts_free_category(s):
    assert s.service.submit(s.owner, NewRepair("unit1", "housekeeping", "deep_clean", "全屋", "保洁")).kind == \
        "housekeeping"


def test_full_lifecycle_records_every_change_in_the_timeline(s):
    repair_id = s.completed()
    repair = s.repairs.get(repair_id)
    assert [e.status for e in repair.timeline] == ["submitted", "assigned", "accepted", "in_progress", "completed"]
    assert [e.actor_role for e in repair.timeline] == ["owner", "staff", "technician", "technician", "technician"]


def test_assign_only_to_a_technician_of_the_community(s):
    repair_id = s.submit()
    for technician in ("t9", "o1", "nobody"):
        with pytest.raises(ValidationFailed):
            s.service.assign(s.staff, repair_id, technician, NOW)


def test_assign_by_staff_of_another_community_is_not_found(s):
    with pytest.raises(NotFound):
        s.service.assign(s.foreign_staff, s.submit(), "t1", NOW)


def test_assign_twice_is_an_invalid_transition(s):
    repair_id = s.assigned()
    with pytest.raises(Conflict) as error:
        s.service.assign(s.staff, repair_id, "t2", NOW)
    assert error.value.code == "invalid_transition"


def test_status_by_a_technician_who_is_not_the_assignee_is_not_found(s):
    repair_id = s.assigned()
    with pytest.raises(NotFound):
        s.service.set_status(s.other_tech, repair_id, "accepted", None)


def test_status_skipping_a_step_is_an_invalid_transition(s):
    repair_id = s.assigned()
    with pytest.raises(Conflict) as error:
        s.service.set_status(s.tech, repair_id, "completed", None)
    assert error.value.code == "invalid_transition"


def test_staff_may_progress_the_work_too(s):
    repair_id = s.assigned()
    assert s.service.set_status(s.staff, repair_id, "accepted", "电话确认").status == "accepted"


def test_cancel_allowed_before_work_starts_only(s):
    repair_id = s.assigned()
    s.service.set_status(s.tech, repair_id, "accepted", None)
    s.service.set_status(s.tech, repair_id, "in_progress", None)
    with pytest.raises(Conflict) as error:
        s.service.cancel(s.owner, repair_id, "不需要了")
    assert error.value.code == "invalid_transition"
    cancelled = s.service.cancel(s.owner, s.submit(), "不需要了")
    assert cancelled.status == "cancelled" and cancelled.timeline[-1].note == "不需要了"
    assert "repair.cancelled" in s.audit.actions("o1")


def test_cancel_by_another_owner_is_not_found(s):
    with pytest.raises(NotFound):
        s.service.cancel(s.other_owner, s.submit(), None)


def test_reject_needs_a_note_and_staff(s):
    repair_id = s.submit()
    with pytest.raises(ValidationFailed):
        move(s.repairs.get(repair_id), "rejected", "staff", "staff", "t", None)
    rejected = s.service.reject(s.staff, repair_id, "不属于物业维修范围")
    assert rejected.status == "rejected" and rejected.timeline[-1].note == "不属于物业维修范围"
    with pytest.raises(Conflict):
        s.service.reject(s.staff, repair_id, "again")


def test_rating_only_once_and_only_after_completion(s):
    open_id = s.assigned()
    with pytest.raises(Conflict) as early:
        s.service.rate(s.owner, open_id, 5, None)
    assert early.value.code == "invalid_transition"
    done_id = s.completed()
    assert s.service.rate(s.owner, done_id, 4, "很及时").rating.stars == 4
    with pytest.raises(Conflict) as again:
        s.service.rate(s.owner, done_id, 5, None)
    assert again.value.code == "already_rated"
    assert "repair.rated" in s.audit.actions("o1")


def test_a_stale_change_loses_to_the_one_that_won(s):
    repair_id = s.assigned()
    stale = s.repairs.get(repair_id)
    s.service.set_status(s.tech, repair_id, "accepted", None)
    with pytest.raises(Conflict):
        s.repairs.update(stale, move(stale, "cancelled", "owner", "owner", "t"))
    assert s.repairs.get(repair_id).status == "accepted"


def test_seventh_photo_is_refused(s):
    repair_id = s.submit()
    for _ in range(6):
        upload = s.service.add_photo(s.owner, repair_id, "image/jpeg", 1000)
    assert s.uploads.policies[-1] == {"key": upload.photo.upload_key, "content_type": "image/jpeg",
                                      "max_bytes": 10 * 1024 * 1024, "expires_in": 600}
    assert upload.photo.upload_key.startswith(f"uploads/{repair_id}/")
    with pytest.raises(Conflict) as error:
        s.service.add_photo(s.owner, repair_id, "image/png", 1000)
    assert error.value.code == "too_many_photos"


def test_photo_on_a_closed_request_is_a_conflict(s):
    repair_id = s.submit()
    s.service.cancel(s.owner, repair_id, None)
    with pytest.raises(Conflict):
        s.service.add_photo(s.owner, repair_id, "image/jpeg", 1000)


def test_assignment_and_completion_enqueue_sms_jobs_not_send(s):
    repair_id = s.completed()
    assert s.jobs.sent == [("repair-sms", {"repair_id": repair_id, "event": "assigned"}),
                           ("repair-sms", {"repair_id": repair_id, "event": "completed"})]
    assert s.sms.sent == []


def test_notifier_texts_the_owner_in_chinese_with_name_and_local_eta_once(s):
    repair_id = s.assigned()
    assert s.notifier.notify(repair_id, "assigned") is True
    assert s.notifier.notify(repair_id, "assigned") is False  # redelivered job
    ((phone, text),) = s.sms.sent
    assert phone == "+8613800000001"
    assert "王t1" in text and "11月25日 16:00" in text  # 08:00Z is 16:00 in Shanghai


def test_notifier_respects_the_sms_repairs_preference(s):
    s.accounts.items["o1"].notification_prefs = {"sms_repairs": False}
    assert s.notifier.notify(s.assigned(), "assigned") is False
    assert s.sms.sent == []


def test_notifier_failure_releases_the_claim_for_the_retry(s):
    repair_id = s.completed()
    s.sms.fail = True
    with pytest.raises(RuntimeError):
        s.notifier.notify(repair_id, "completed")
    s.sms.fail = False
    assert s.notifier.notify(repair_id, "completed") is True
    assert "已完成" in s.sms.sent[0][1]


def test_details_show_links_only_for_ready_photos_and_the_assignee(s):
    repair_id = s.assigned()
    pending = s.repairs.add_pending_photo(repair_id, "p1")
    from dataclasses import replace

    s.repairs.add_pending_photo(repair_id, "p2")
    s.repairs.finish_photo(replace(s.repairs.get_photo(repair_id, "p2"), status="ready",
                                   processed_key="processed/x.jpg", thumbnail_key="thumbs/x.jpg"))
    details = s.service.details(s.owner, repair_id)
    views = {p.photo_id: p for p in details.photos}
    assert views[pending.photo_id].url is None
    assert views["p2"].url.startswith("https://bucket.example/processed/") and views["p2"].thumbnail_url
    assert details.assignee.user_id == "t1"


def test_details_for_strangers_are_not_found(s):
    repair_id = s.assigned()
    for stranger in (s.other_owner, s.foreign_staff, s.other_tech):
        with pytest.raises(NotFound):
            s.service.details(stranger, repair_id)
    assert s.service.details(s.tech, repair_id).repair.repair_id == repair_id


def test_lists_filter_by_group_and_status(s):
    open_id, done_id = s.assigned(), s.completed()
    assert [r.repair_id for r in s.service.list_own(s.owner, "open", 10, None).items] == [open_id]
    assert [r.repair_id for r in s.service.list_own(s.owner, "closed", 10, None).items] == [done_id]
    assert {r.repair_id for r in s.service.list_assigned(s.tech, None, 10, None).items} == {open_id, done_id}
    assert [r.repair_id for r in s.service.list_for_staff(s.staff, "c1", "completed", 10, None).items] == [done_id]
    with pytest.raises(NotFound):
        s.service.list_for_staff(s.foreign_staff, "c1", None, 10, None)
