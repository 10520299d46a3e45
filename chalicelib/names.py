"""Logical resource names that code needs at import time (queue names for `on_sqs_message`).

Only string constants here: `app.py` imports this module on every cold start, `resources.py` (the full
definitions, with dataclasses) is imported only by provisioning and infra.
"""

JOBS_QUEUE = "jobs"
TOKEN_KEYS_SECRET = "token-keys"
# One secret per configurable payment provider and stage (`<prefix>-payments-alipay`), its JSON content the
# provider module's config; infra/ creates them empty, an operator fills them (adapters/payments/registry.py).
PAYMENT_PROVIDER_SECRETS = {"alipay": "payments-alipay", "wechat": "payments-wechat"}
APP_KEY = "app"
PHOTOS_BUCKET = "photos"
PHOTO_UPLOADS_QUEUE = "photo-uploads"
DOOR_ACCESS_TOPIC = "door-access"  # events for the door-access system (API.md §5)
RECEIPTS_BUCKET = "receipts"
IDEMPOTENCY_TABLE = "idempotency"
SMS_OUTBOX_QUEUE = "sms-outbox"  # paced bulk texts (fee reminders), consumed at the configured SMS rate
NOTICE_SMS_QUEUE = "notice-sms"  # one message per owner to text about an urgent notice

# Job kinds: the producer enqueues `deps.jobs().send(KIND, payload)`, `chalicelib/routes.py` names the handler.
BILLING_RUN_JOB = "billing-run"
PAYMENT_RECEIPT_JOB = "payment-receipt"
FEE_REMINDER_JOB = "fee-reminder"  # one owner's text, on the paced sms-outbox queue
FEE_REMINDER_RUN_JOB = "fee-reminder-run"  # the next steps of a day's reminder run
NOTICE_SMS_JOB = "notice-sms"
REPAIR_SMS_JOB = "repair-sms"
REFUND_SMS_JOB = "refund-sms"  # the owner's text once a refund has succeeded
