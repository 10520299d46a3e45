"""Owner reads within a fixed DynamoDB budget whatever the number of units (issue 18, item 3), and the owners'
bill copies they read from: co-owners, payments and holds, pagination, owners at billing time, the backfill."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_bills_flow import _expire_now, pay, sandbox_callback

# The session check included: one GetItem of the session, then the route's own reads.
BUDGETS = {"/bills": 2, "/bills/summary": 2, "/home": 5, "/notices": 3}


@contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The DynamoDB operations made meanwhile, in order (every botocore client: PynamoDB's and boto3's)."""
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counted(client, operation, params):
        if client.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original


def bill(api, staff: str, unit_id: str, period: str, cents: int = 10_000, due_days: int = 10) -> str:
    due = datetime.now(UTC).date() + timedelta(days=due_days)
    reply = api.post("/staff/bills", {"unit_id": unit_id, "type": "parking", "period": period,
                                      "items": [{"code": "parking", "name": "停车费", "unit_price_cents": cents}],
                                      "due_date": due.isoformat()}, token=staff)
    assert reply.status == 201, reply.body
    return reply.body["bill_id"]


def bill_ids(api, token: str, query: str = "") -> list[str]:
    reply = api.get(f"/bills{query}", token=token)
    assert reply.status == 200, reply.body
    return [b["bill_id"] for b in reply.body["items"]]


def all_pages(api, token: str, path: str) -> list[list[dict]]:
    pages, cursor = [], None
    for _ in range(20):
        reply = api.get(path + (f"&cursor={cursor}" if cursor else ""), token=token)
        assert reply.status == 200, reply.body
        pages.append(reply.body["items"])
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the list never ended")


@pytest.mark.parametrize("units", [1, 3])
def test_owner_reads_stay_within_their_call_budget_whatever_the_number_of_units(api, world, units):
    staff = world.staff.token
    owner = world.owner(world.unit_ids[:units])
    for unit_id in world.unit_ids[:units]:
        for period in ("2026-09", "2026-10"):
            bill(api, staff, unit_id, period)
    for audience in ({}, {"building_ids": [world.building_ids[-1]]}, {"tags": ["elderly"]}):
        assert api.post("/staff/notices", {"community_id": world.community_id, "title": "停水通知", "body": "明天停水",
                                           "category": "outage", "urgency": "normal", "audience": audience},
                        token=staff).status == 201
    starts = datetime.now(UTC) + timedelta(days=3)
    assert api.post("/staff/events", {"community_id": world.community_id, "title": "亲子活动", "description": "x",
                                      "location": "会所", "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "ends_at": (starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "capacity": 20}, token=staff).status == 201
    assert api.post("/repairs", {"unit_id": world.unit_ids[0], "kind": "repair", "category": "plumbing",
                                 "location": "厨房", "description": "水龙头漏水"}, token=owner.token).status == 201
    token = owner.token
    first = api.get("/bills?limit=1", token=token).body["next_cursor"]
    requests = [("/bills", "/bills"), ("/bills", "/bills?status=unpaid"), ("/bills", "/bills?status=paid"),
                ("/bills", f"/bills?limit=1&cursor={first}"), ("/bills/summary", "/bills/summary"),
                ("/home", "/home"), ("/notices", "/notices"), ("/notices", "/notices?category=outage")]
    for route, path in requests:
        with dynamodb_calls() as calls:
            reply = api.get(path, token=token)
        assert reply.status == 200, (path, reply.body)
        assert len(calls) <= BUDGETS[route], (path, calls)
        assert "Scan" not in calls
    # and the answers are whole: every unit's bills, the notices for the last building only with 3 units
    assert len(bill_ids(api, token)) == 2 * units
    assert api.get("/bills/summary", token=token).body["unpaid_count"] == 2 * units
    home = api.get("/home", token=token).body
    assert home["unpaid"]["count"] == 2 * units and home["unpaid"]["total_cents"] == 20_000 * units
    assert len(home["notices"]) == (2 if units == 3 else 1) and len(home["events"]) == 1
    assert len(home["repairs"]) == 1
    assert len(api.get("/notices", token=token).body["items"]) == (2 if units == 3 else 1)


def test_co_owners_both_see_a_bill_and_its_hold_payment_and_paid_state(api, world):
    staff = world.staff.token
    alice = world.owner([world.unit_ids[0]])
    bob = world.owner([world.unit_ids[0]], name="李四")
    bill_id = bill(api, staff, world.unit_ids[0], "2026-10", cents=25_000)
    for owner in (alice, bob):
        assert bill_ids(api, owner.token) == [bill_id]
        assert api.get("/bills/summary", token=owner.token).body["unpaid_total_cents"] == 25_000
    # a pending payment holds it for both; its expiry gives it back to both
    held = pay(api, alice, [bill_id]).body
    for owner in (alice, bob):
        assert [b["status"] for b in api.get("/bills", token=owner.token).body["items"]] == ["processing"]
        assert bill_ids(api, owner.token, "?status=unpaid") == [bill_id]
    _expire_now(held["payment_id"])
    from chalicelib import deps

    deps.payments().sweep_expired()
    for owner in (alice, bob):
        assert [b["status"] for b in api.get("/bills", token=owner.token).body["items"]] == ["unpaid"]
    # bob pays: paid for both, out of both summaries
    payment = pay(api, bob, [bill_id]).body
    assert sandbox_callback(api, payment["payment_id"], payment["amount_cents"]).status == 200
    for owner in (alice, bob):
        assert bill_ids(api, owner.token, "?status=paid") == [bill_id]
        assert bill_ids(api, owner.token, "?status=unpaid") == []
        listed = api.get("/bills", token=owner.token).body["items"]
        assert listed[0]["status"] == "paid" and listed[0]["payment_id"] == payment["payment_id"]
        assert api.get("/bills/summary", token=owner.token).body == {"unpaid_count": 0, "unpaid_total_cents": 0,
                                                                     "overdue_count": 0}
        assert api.get("/home", token=owner.token).body["unpaid"]["count"] == 0


def test_bills_of_several_units_page_newest_first_and_the_status_filter_is_exact(api, world):
    staff = world.staff.token
    owner = world.owner(world.unit_ids)
    made = {}
    for i, period in enumerate(("2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07")):
        made[period] = bill(api, staff, world.unit_ids[i % 3], period, cents=1000 + i, due_days=-1 if i < 2 else 10)
    pages = all_pages(api, owner.token, "/bills?limit=2")
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [b["period"] for p in pages for b in p] == sorted(made, reverse=True)
    paid = made["2026-04"]
    payment = pay(api, owner, [paid]).body
    assert sandbox_callback(api, payment["payment_id"], payment["amount_cents"]).status == 200
    unpaid = [b["bill_id"] for p in all_pages(api, owner.token, "/bills?status=unpaid&limit=2") for b in p]
    assert unpaid == [made[p] for p in sorted(made, reverse=True) if p != "2026-04"]
    assert [b["bill_id"] for p in all_pages(api, owner.token, "/bills?status=paid&limit=2") for b in p] == [paid]
    summary = api.get("/bills/summary", token=owner.token).body
    assert summary == {"unpaid_count": 6, "unpaid_total_cents": sum(1000 + i for i in range(7) if i != 3),
                       "overdue_count": 2}
    # a cursor of one filter is refused by another
    cursor = api.get("/bills?status=unpaid&limit=2", token=owner.token).body["next_cursor"]
    assert api.get(f"/bills?status=paid&cursor={cursor}", token=owner.token).code == "invalid_cursor"


def test_bills_belong_to_the_owners_at_billing_time_not_to_later_owners(api, world):
    staff = world.staff.token
    unit = world.unit_ids[2]
    before_anyone = bill(api, staff, unit, "2026-08")  # the flat had no owner yet
    former = world.owner([unit])
    theirs = bill(api, staff, unit, "2026-09")
    assert bill_ids(api, former.token) == [theirs, before_anyone]
    newcomer = world.owner([unit], name="王五")
    later = bill(api, staff, unit, "2026-10")
    assert bill_ids(api, newcomer.token) == [later]
    assert api.get(f"/bills/{theirs}", token=newcomer.token).status == 404
    assert pay(api, newcomer, [theirs]).status == 404
    assert api.get("/bills/summary", token=newcomer.token).body["unpaid_count"] == 1
    assert bill_ids(api, former.token) == [later, theirs, before_anyone]


def test_the_backfill_gives_existing_bills_and_targeted_notices_to_their_readers(api, world):
    from chalicelib.adapters.dynamo.billing_models import BillModel, OwnerBillModel, OwnerBillSummaryModel
    from chalicelib.adapters.dynamo.notices import NoticeFeedModel, NoticeModel
    from chalicelib.ops.backfill import backfill_owner_reads

    staff = world.staff.token
    owner = world.owner([world.unit_ids[2]])
    bill_id = bill(api, staff, world.unit_ids[2], "2026-10", cents=4_200)
    notice = api.post("/staff/notices", {"community_id": world.community_id, "title": "电梯检修", "body": "周五检修",
                                         "category": "elevator", "urgency": "normal",
                                         "audience": {"building_ids": [world.building_ids[1]]}}, token=staff).body
    # as stored before owners' copies and the one-partition feed existed
    stored = BillModel.get(bill_id)
    stored.update(actions=[BillModel.owner_ids.remove()])
    OwnerBillModel(owner.user_id, f"2026-10#{bill_id}").delete()
    OwnerBillSummaryModel(owner.user_id).delete()
    sort_key = NoticeModel.get(notice["notice_id"]).sort_key
    entry = NoticeFeedModel.get(f"c#{world.community_id}", sort_key)
    entry.delete()
    entry.partition, entry.building_ids = f"b#{world.community_id}#{world.building_ids[1]}", None
    entry.save()
    assert bill_ids(api, owner.token) == [] and api.get("/notices", token=owner.token).body["items"] == []
    backfill_owner_reads()
    assert bill_ids(api, owner.token) == [bill_id]
    assert api.get("/bills/summary", token=owner.token).body["unpaid_total_cents"] == 4_200
    assert [n["notice_id"] for n in api.get("/notices", token=owner.token).body["items"]] == [notice["notice_id"]]
    neighbour = world.owner([world.unit_ids[0]])  # building 0: not addressed
    assert api.get("/notices", token=neighbour.token).body["items"] == []
    again = backfill_owner_reads()  # idempotent
    assert again.bills_attached == 0 and bill_ids(api, owner.token) == [bill_id]
    assert api.delete(f"/staff/notices/{notice['notice_id']}", token=staff).status == 204
    assert api.get("/notices", token=owner.token).body["items"] == []
