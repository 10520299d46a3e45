"""PynamoDB models of bills and payments (API.md §6). Access patterns: docs/data-model.md, "Bills and payments"."""

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
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex

from chalicelib.adapters.dynamo.base import IntAttribute, Model, table_meta


class PropertyItemMap(MapAttribute):
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    rate_cents_per_m2 = IntAttribute()


class FeeScheduleModel(Model):
    Meta = table_meta("fee-schedules")

    community_id = UnicodeAttribute(hash_key=True)
    property_items = ListAttribute(of=PropertyItemMap, default=list)
    water_cents_per_ton = IntAttribute()
    electricity_cents_per_kwh = IntAttribute()
    due_days = IntAttribute()
    updated_at = UnicodeAttribute()


class ReadingsByUnitIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-meter"
        projection = AllProjection()

    meter = UnicodeAttribute(hash_key=True)  # "<unit_id>#<kind>"
    period = UnicodeAttribute(range_key=True)


class MeterReadingModel(Model):
    """One meter reading; partitioned by community and period so a billing run reads a period in a few pages."""

    Meta = table_meta("meter-readings")

    community_period = UnicodeAttribute(hash_key=True)  # "<community_id>#<period>"
    meter = UnicodeAttribute(range_key=True)  # "<unit_id>#<kind>"
    unit_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    period = UnicodeAttribute()
    reading = UnicodeAttribute()  # exact decimal as text
    previous = UnicodeAttribute(null=True)  # the meter's reading of its latest earlier period
    recorded_at = UnicodeAttribute()

    by_meter = ReadingsByUnitIndex()


class BillItemMap(MapAttribute):
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    quantity = UnicodeAttribute()  # exact decimal as text
    unit = UnicodeAttribute()
    unit_price_cents = IntAttribute()
    amount_cents = IntAttribute()


class BillsByUnitIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-unit"
        projection = AllProjection()

    unit_id = UnicodeAttribute(hash_key=True)
    period_bill = UnicodeAttribute(range_key=True)  # "<period>#<bill_id>": newest period first when descending


class BillsByCommunityPeriodIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-community-period"
        projection = AllProjection()

    community_period = UnicodeAttribute(hash_key=True)  # "<community_id>#<period>"
    status_bill = UnicodeAttribute(range_key=True)  # "<status>#<unit_label>#<bill_id>"


class UnpaidBillsIndex(GlobalSecondaryIndex):
    """Sparse and sharded: only open bills carry `unpaid_shard` ("0".."15"), sorted by due date.

    The fee-reminder job queries each shard for `due_bill <= <date in 3 days>` instead of scanning.
    """

    class Meta:
        index_name = "unpaid-by-due"
        projection = AllProjection()

    unpaid_shard = UnicodeAttribute(hash_key=True)
    due_bill = UnicodeAttribute(range_key=True)  # "<due_date>#<bill_id>"


class BillFields(Model):
    """What a bill and an owner's copy of it both hold (not a table: no `Meta`)."""

    unit_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    unit_label = UnicodeAttribute()
    type = UnicodeAttribute()
    period = UnicodeAttribute()
    items = ListAttribute(of=BillItemMap, default=list)
    total_cents = IntAttribute()  # the sum of the items, kept for projections; written from the items
    due_date = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    paid_at = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute(null=True)
    hold_until = NumberAttribute(null=True)


class BillModel(BillFields):
    Meta = table_meta("bills")

    bill_id = UnicodeAttribute(hash_key=True)
    period_bill = UnicodeAttribute()
    community_period = UnicodeAttribute()
    status_bill = UnicodeAttribute()
    unpaid_shard = UnicodeAttribute(null=True)
    due_bill = UnicodeAttribute()
    # the unit's owners when the bill was made (absent on bills older than owner copies, until the backfill)
    owner_ids = UnicodeSetAttribute(null=True)

    by_unit = BillsByUnitIndex()
    by_community_period = BillsByCommunityPeriodIndex()
    unpaid_by_due = UnpaidBillsIndex()


class OwnerBillsByGroupIndex(LocalSecondaryIndex):
    class Meta:
        index_name = "by-group"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    group_bill = UnicodeAttribute(range_key=True)  # "<open|paid|void>#<period>#<bill_id>"


class OwnerBillModel(BillFields):
    """One owner's copy of a bill: written with the bill for each owner of its unit at billing time, and
    changed in the same transaction as the bill, so `GET /bills` is one query whatever the number of units."""

    Meta = table_meta("owner-bills")

    owner_id = UnicodeAttribute(hash_key=True)
    period_bill = UnicodeAttribute(range_key=True)  # "<period>#<bill_id>": newest period first when descending
    group_bill = UnicodeAttribute()
    bill_id = UnicodeAttribute()

    by_group = OwnerBillsByGroupIndex()


class OwnerBillSummaryModel(Model):
    """An owner's open bills in one item (`GET /bills/summary` and `GET /home` read it by key).

    Entries are "<bill_id>|<due_date>|<total_cents>": added with a bill (ADD is idempotent, so a redone write
    adds nothing), removed when it is paid; `closed_bills` remembers paid ones so a late or redone write
    cannot bring them back (readers leave out open entries whose id is closed).
    """

    Meta = table_meta("owner-bill-summaries")

    owner_id = UnicodeAttribute(hash_key=True)
    open_bills = UnicodeSetAttribute(null=True)
    closed_bills = UnicodeSetAttribute(null=True)


class BillingRunModel(Model):
    Meta = table_meta("billing-runs")

    run_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute()
    period = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    bills_created = IntAttribute(default=0)  # runs before chunk_bills: read only when chunk_bills is absent
    # chunk key → the bills that exist for that chunk's units; a retried chunk overwrites its own entry, so
    # the run's count is the sum, however often a chunk ran (reset when the run starts again)
    chunk_bills = MapAttribute(null=True)
    units_done = IntAttribute(default=0)
    units_total = IntAttribute(null=True)
    cursor = UnicodeAttribute(null=True)  # JSON position in the community's units; "" once finished
    attempt = IntAttribute(default=0)  # bumped by every (re)start; a worker only advances its own attempt
    lease_until = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)


class PaymentsByUserIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_payment = UnicodeAttribute(range_key=True)  # "<created_at>#<payment_id>"


class PendingPaymentsIndex(GlobalSecondaryIndex):
    """Sparse and sharded: only pending payments carry `pending_shard`; the expiry sweep queries by time."""

    class Meta:
        index_name = "pending-by-expiry"
        projection = AllProjection()

    pending_shard = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(range_key=True)


class PaymentsByCommunityIndex(GlobalSecondaryIndex):
    """`GET /staff/payments`: a community's payments by creation time (method and status filter within)."""

    class Meta:
        index_name = "by-community"
        projection = AllProjection()

    community_id = UnicodeAttribute(hash_key=True)
    created_payment = UnicodeAttribute(range_key=True)  # "<created_at>#<payment_id>"


class PaymentModel(Model):
    Meta = table_meta("payments")

    payment_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    created_payment = UnicodeAttribute()
    bill_ids = ListAttribute(of=UnicodeAttribute)
    unit_ids = ListAttribute(of=UnicodeAttribute)
    community_id = UnicodeAttribute()
    amount_cents = IntAttribute()
    method = UnicodeAttribute()
    provider = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()
    pending_shard = UnicodeAttribute(null=True)
    provider_txn_id = UnicodeAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    ended_at = UnicodeAttribute(null=True)
    receipt_no = UnicodeAttribute(null=True)
    receipt_ready = BooleanAttribute(default=False)
    refund_case = BooleanAttribute(default=False)
    channel = UnicodeAttribute(null=True)
    provider_payload = UnicodeAttribute(null=True)  # JSON: what the provider answered (order string, prepay id)
    refunded_cents = IntAttribute(null=True)  # refunds that succeeded (absent: none)
    # refunds asked for and not failed; every new refund's transaction moves it from the value its maker read
    refund_reserved_cents = IntAttribute(null=True)
    reference = UnicodeAttribute(null=True)  # front desk: the slip, POS or transfer reference
    recorded_by = UnicodeAttribute(null=True)  # front desk: the staff member's user id

    by_user = PaymentsByUserIndex()
    pending_by_expiry = PendingPaymentsIndex()
    by_community = PaymentsByCommunityIndex()


class LedgerEntryModel(Model):
    """Money movements per payment; the entry key makes each movement exist at most once."""

    Meta = table_meta("payment-ledger")

    payment_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)  # "captured" | "refund_due#<provider_txn_id>" | "refund#<refund_id>"
    amount_cents = IntAttribute()
    provider = UnicodeAttribute()
    provider_txn_id = UnicodeAttribute()
    at = UnicodeAttribute()


class RefundsByPaymentIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-payment"
        projection = AllProjection()

    payment_id = UnicodeAttribute(hash_key=True)
    created_refund = UnicodeAttribute(range_key=True)  # "<created_at>#<refund_id>"


class OpenRefundsIndex(GlobalSecondaryIndex):
    """Sparse and sharded: only refunds still requested or pending carry `open_shard` (the reconciliation)."""

    class Meta:
        index_name = "open-refunds"
        projection = AllProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    created_refund = UnicodeAttribute(range_key=True)


class RefundModel(Model):
    """A refund of (part of) a payment; its id is the provider's idempotency key (out_request_no, out_refund_no)."""

    Meta = table_meta("payment-refunds")

    refund_id = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute()
    created_refund = UnicodeAttribute()
    user_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    amount_cents = IntAttribute()
    reason = UnicodeAttribute()
    bill_ids = ListAttribute(of=UnicodeAttribute, default=list)
    status = UnicodeAttribute()  # requested | pending | succeeded | failed
    requested_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    provider = UnicodeAttribute()
    provider_refund_id = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    open_shard = UnicodeAttribute(null=True)
    sms_sent = BooleanAttribute(default=False)  # the owner's SMS, claimed once

    by_payment = RefundsByPaymentIndex()
    open_refunds = OpenRefundsIndex()


class PaymentSettingsModel(Model):
    """A community's payment settings, set by an admin: the amount above which a refund needs an admin."""

    Meta = table_meta("payment-settings")

    community_id = UnicodeAttribute(hash_key=True)
    refund_limit_cents = IntAttribute()
    updated_at = UnicodeAttribute()
    updated_by = UnicodeAttribute()


class ReceiptModel(Model):
    """An e-receipt: what the public verification answers (no personal data) and where the PDF is."""

    Meta = table_meta("receipts")

    receipt_no = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute()
    amount_cents = IntAttribute()
    paid_at = UnicodeAttribute()
    community_name = UnicodeAttribute()
    object_key = UnicodeAttribute()


class IdempotencyModel(Model):
    """Powertools' idempotency records (`POST /payments`): defined here so provisioning and infra create it."""

    Meta = table_meta("idempotency")

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)


BILLING_MODELS: list[type[Model]] = [
    FeeScheduleModel,
    MeterReadingModel,
    BillModel,
    OwnerBillModel,
    OwnerBillSummaryModel,
    BillingRunModel,
    PaymentModel,
    LedgerEntryModel,
    RefundModel,
    PaymentSettingsModel,
    ReceiptModel,
    IdempotencyModel,
]
