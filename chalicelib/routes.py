"""Every route the API serves, who may call it, and the view that answers it — the one file to review roles in.

Each line: method, path, view (`<module>.<function>` under `chalicelib.api`), and who may call it:
- `public(...)`: no token (sign-in, provider callbacks, receipt checks, health, the API document);
- `route(...)`: a valid token of one of `roles` — by default any role, and staff or admin under `/staff/`.
  Owners never reach `/staff/` (checked at import). `while_password_change=True` marks the few routes an account
  that must change its password may still call (API.md §3).

A request to a path or method not listed here is a 404/405 from Chalice; one listed is authenticated by the
middleware before any view code runs, so a view can't forget it. `app.py` mounts these with a stub that imports
the view's module on its first call: this file and what it imports are all the cold path pays.

Job kinds (the jobs and SMS-outbox queues) and schedules are in the tables at the end, in the same manner.
A unit test checks that every entry resolves, that every view is listed once, and every handler exists.
"""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.names import (
    BILLING_RUN_JOB,
    FEE_REMINDER_JOB,
    FEE_REMINDER_RUN_JOB,
    NOTICE_SMS_JOB,
    PAYMENT_RECEIPT_JOB,
    REFUND_SMS_JOB,
    REPAIR_SMS_JOB,
)

OWNER = frozenset({"owner"})
STAFF = frozenset({"staff", "admin"})
ADMIN = frozenset({"admin"})
STAFF_AND_TECHNICIANS = frozenset({"staff", "admin", "technician"})
OWNERS_AND_STAFF = frozenset({"owner", "staff", "admin"})
ANY_ROLE = frozenset({"owner", "staff", "technician", "admin"})
VIEWS = "chalicelib.api."


class Route(NamedTuple):
    method: str
    path: str
    view: str  # `<module>.<function>` under chalicelib.api
    public: bool
    roles: frozenset[str]
    while_password_change: bool

    @property
    def module(self) -> str:
        return VIEWS + self.view.rsplit(".", 1)[0]

    @property
    def function(self) -> str:
        return self.view.rsplit(".", 1)[1]

    @property
    def name(self) -> str:
        """The Chalice view name (unique in the app)."""
        return self.view.replace(".", "_")


def route(method: str, path: str, view: str, roles: frozenset[str] | None = None, *,
          while_password_change: bool = False) -> Route:
    if roles is None:
        roles = STAFF if path.startswith("/staff/") else ANY_ROLE
    if path.startswith("/staff/") and "owner" in roles:
        raise ValueError(f"owners never reach /staff/ routes: {path}")
    return Route(method, path, view, False, roles, while_password_change)


def public(method: str, path: str, view: str) -> Route:
    return Route(method, path, view, True, frozenset(), False)


ROUTES: tuple[Route, ...] = (
    # Platform
    public("GET", "/health", "platform.health"),
    public("GET", "/openapi.json", "platform.openapi"),
    # Authentication (API.md §3)
    public("GET", "/auth/captcha", "auth.captcha"),
    public("POST", "/auth/login", "auth.login"),
    public("POST", "/auth/sms", "auth.send_sms"),
    public("POST", "/auth/verify", "auth.verify"),
    public("POST", "/auth/refresh", "auth.refresh"),
    route("POST", "/auth/logout", "auth.logout", while_password_change=True),
    route("POST", "/auth/password", "auth.change_password", while_password_change=True),
    public("POST", "/auth/password/reset", "auth.start_reset"),
    public("POST", "/auth/password/reset/confirm", "auth.confirm_reset"),
    route("POST", "/auth/totp/setup", "auth.totp_setup"),
    route("POST", "/auth/totp/activate", "auth.totp_activate"),
    route("DELETE", "/auth/totp", "auth.totp_remove"),
    route("POST", "/me/phone", "auth.start_phone_change"),
    route("POST", "/me/phone/verify", "auth.confirm_phone_change"),
    # Profile and history (§5)
    route("GET", "/me", "platform.me", while_password_change=True),
    route("PATCH", "/me", "profile.update_me"),
    route("GET", "/me/history", "profile.history"),
    # Household and door access (§5)
    route("GET", "/me/household", "household.list_household", OWNER),
    route("POST", "/me/household", "household.add_member", OWNER),
    route("DELETE", "/me/household/{member_id}", "household.remove_member", OWNER),
    # Directory (§2)
    route("POST", "/staff/communities", "platform.create_community", ADMIN),
    route("POST", "/staff/communities/{community_id}/buildings", "platform.create_building"),
    route("POST", "/staff/units", "platform.create_unit"),
    route("GET", "/staff/units", "platform.list_units"),
    route("POST", "/staff/owners", "platform.create_owner"),
    route("POST", "/staff/users", "platform.create_user", ADMIN),
    route("POST", "/staff/accounts/{user_id}/unlock", "platform.unlock"),
    route("POST", "/staff/accounts/{user_id}/reset-password", "platform.reset_password"),
    # Owner home screen
    route("GET", "/home", "home.home", OWNER),
    # Billing (§6)
    route("PUT", "/staff/communities/{community_id}/fee-schedule", "billing.put_fee_schedule", ADMIN),
    route("POST", "/staff/meter-readings", "billing.post_reading"),
    route("POST", "/staff/billing-runs", "billing.post_run"),
    route("GET", "/staff/billing-runs/{run_id}", "billing.get_run"),
    route("POST", "/staff/bills", "billing.post_bill"),
    route("GET", "/staff/bills", "billing.staff_bills"),
    route("GET", "/bills", "billing.owner_bills", OWNER),
    route("GET", "/bills/summary", "billing.owner_summary", OWNER),
    route("GET", "/bills/{bill_id}", "billing.owner_bill", OWNER),
    # Payments and receipts (§6)
    route("POST", "/payments", "payments.create_payment", OWNER),
    route("GET", "/payments", "payments.list_payments", OWNER),
    route("GET", "/payments/{payment_id}", "payments.get_payment", OWNER),
    route("GET", "/payments/{payment_id}/receipt", "payments.get_receipt", OWNER),
    public("POST", "/payments/callbacks/{provider}", "payments.provider_callback"),
    public("GET", "/receipts/{receipt_no}/verify", "payments.verify_receipt"),
    # Staff payments: front desk, refunds, reading (issue 14)
    route("POST", "/staff/payments", "staff_payments.record_offline_payment"),
    route("GET", "/staff/payments", "staff_payments.list_staff_payments"),
    route("GET", "/staff/payments/{payment_id}", "staff_payments.get_staff_payment"),
    route("POST", "/staff/payments/{payment_id}/refunds", "staff_payments.create_refund"),
    route("GET", "/staff/communities/{community_id}/payment-settings", "staff_payments.get_payment_settings"),
    route("PUT", "/staff/communities/{community_id}/payment-settings", "staff_payments.put_payment_settings",
          ADMIN),
    # Repairs (§7)
    route("POST", "/repairs", "repairs.create_repair", OWNER),
    route("GET", "/repairs", "repairs.list_repairs", OWNER),
    route("GET", "/repairs/{repair_id}", "repairs.get_repair"),
    route("POST", "/repairs/{repair_id}/photos", "repairs.add_photo", OWNER),
    route("POST", "/repairs/{repair_id}/cancel", "repairs.cancel_repair", OWNER),
    route("POST", "/repairs/{repair_id}/rating", "repairs.rate_repair", OWNER),
    route("GET", "/staff/repairs", "repairs.staff_list_repairs"),
    route("GET", "/staff/repairs/assigned", "repairs.list_assigned", STAFF_AND_TECHNICIANS),
    route("POST", "/staff/repairs/{repair_id}/assign", "repairs.assign_repair"),
    route("POST", "/staff/repairs/{repair_id}/reject", "repairs.reject_repair"),
    route("POST", "/staff/repairs/{repair_id}/status", "repairs.set_repair_status", STAFF_AND_TECHNICIANS),
    # Notices and events (§8)
    route("POST", "/staff/notices", "notices.publish_notice"),
    route("DELETE", "/staff/notices/{notice_id}", "notices.withdraw_notice"),
    route("GET", "/notices", "notices.list_notices", OWNER),
    route("GET", "/notices/{notice_id}", "notices.get_notice", OWNER),
    route("POST", "/notices/{notice_id}/read", "notices.read_notice", OWNER),
    route("POST", "/staff/events", "notices.create_event"),
    route("GET", "/staff/events/{event_id}/signups", "notices.list_signups"),
    route("GET", "/events", "notices.list_events", OWNER),
    route("POST", "/events/{event_id}/signup", "notices.sign_up", OWNER),
    route("DELETE", "/events/{event_id}/signup", "notices.cancel_signup", OWNER),
    # Messages to the property (§9)
    route("POST", "/messages", "messages.create_message", OWNER),
    route("GET", "/messages", "messages.list_messages", OWNER),
    route("GET", "/messages/{message_id}", "messages.get_message", OWNER),
    route("POST", "/messages/{message_id}/replies", "messages.owner_reply", OWNER),
    route("GET", "/staff/messages", "messages.staff_messages"),
    route("POST", "/staff/messages/{message_id}/replies", "messages.staff_reply"),
    route("POST", "/staff/messages/{message_id}/close", "messages.close_message"),
    # Community board (§9)
    route("GET", "/board/posts", "board.list_posts", OWNERS_AND_STAFF),
    route("POST", "/board/posts", "board.create_post", OWNER),
    route("DELETE", "/board/posts/{post_id}", "board.delete_post", OWNERS_AND_STAFF),
    route("POST", "/staff/board/posts/{post_id}/hide", "board.hide_post"),
)


class Schedule(NamedTuple):
    name: str
    expression: str  # an EventBridge schedule expression, in UTC
    handler: str  # `<module>.<function>` under chalicelib.events; takes nothing, returns a summary dict
    description: str


# Job kind → handler (`<module>.<function>` under chalicelib.events). Enqueued with `deps.jobs().send(kind, ...)`;
# a handler takes the payload dict and must be idempotent (SQS delivers at least once).
JOBS: dict[str, str] = {
    BILLING_RUN_JOB: "billing.billing_run",
    PAYMENT_RECEIPT_JOB: "billing.payment_receipt",
    FEE_REMINDER_JOB: "reminders.send_fee_reminder",
    FEE_REMINDER_RUN_JOB: "reminders.continue_fee_reminders",
    NOTICE_SMS_JOB: "notices.fan_out_notice_sms",
    REPAIR_SMS_JOB: "repairs.send_repair_sms",
    REFUND_SMS_JOB: "billing.send_refund_sms",
}

SCHEDULES: tuple[Schedule, ...] = (
    Schedule("payment-reconciliation", "rate(5 minutes)", "billing.payment_reconciliation",
             "Ask the providers about pending payments near or past expiry (close and expire lapsed ones) and "
             "about open refunds"),
    Schedule("fee-reminders", "cron(0 2 * * ? *)", "reminders.fee_reminders",
             "Text owners with bills overdue or due within 3 days (one SMS each, at most weekly)"),
    Schedule("monthly-billing", "cron(30 16 L * ? *)", "reminders.monthly_billing",
             "Start the billing run of every community for the month just ended (00:30 on the 1st, Shanghai)"),
    Schedule("door-access-expiry", "cron(5 16 * * ? *)", "household.expire_door_access",
             "Revoke lapsed door-access grants (00:05 Shanghai)"),
)
EVENTS = "chalicelib.events."
