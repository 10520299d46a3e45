"""The one definition of every AWS resource the app uses.

The local stack (`devstack`), the integration tests and infra/ all read this module; the tables come from
the PynamoDB models themselves. Names are logical here and become `<RESOURCE_PREFIX>-<logical>` per stage.
Later areas append to these lists; nothing else in the project creates resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# Logical names used in code live in `names.py` (light enough for the cold path); re-exported here.
from chalicelib.names import (
    APP_KEY,
    DOOR_ACCESS_TOPIC,
    JOBS_QUEUE,
    NOTICE_SMS_QUEUE,
    PAYMENT_PROVIDER_SECRETS,
    PHOTO_UPLOADS_QUEUE,
    PHOTOS_BUCKET,
    RECEIPTS_BUCKET,
    SMS_OUTBOX_QUEUE,
    TOKEN_KEYS_SECRET,
)

if TYPE_CHECKING:
    from pynamodb.models import Model


@dataclass(frozen=True)
class QueueSpec:
    logical: str
    visibility_timeout: int = 60
    max_receive_count: int = 5  # deliveries before a message moves to the dead-letter queue
    # The consumer answers SQS partial batch responses ({"batchItemFailures": [...]}, None = all done, or raises):
    # infra/ sets FunctionResponseTypes=ReportBatchItemFailures on its event source mapping.
    partial_batch_responses: bool = True

    @property
    def dlq(self) -> str:
        return f"{self.logical}-dlq"


@dataclass(frozen=True)
class BucketNotification:
    queue: str
    prefix: str
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class Expiry:
    """Objects under `prefix` are deleted `days` after creation (rejected uploads, temporary files)."""

    prefix: str
    days: int


@dataclass(frozen=True)
class BucketSpec:
    logical: str
    notifications: tuple[BucketNotification, ...] = ()
    expirations: tuple[Expiry, ...] = (Expiry("tmp/", 1), Expiry("rejected/", 7))
    browser_uploads: bool = False  # CORS for presigned POST from the owner apps


@dataclass(frozen=True)
class TopicSpec:
    logical: str


@dataclass(frozen=True)
class SecretSpec:
    logical: str
    description: str
    # "app": the app writes its first value (provisioning, a rotation); "operator": created without any value
    # and filled by an operator (`aws secretsmanager put-secret-value`), never by a template or the code.
    filled_by: str = "app"
    # Which functions may read it, as infra/ names them (`api`, `handle-jobs`, `schedule-<job>`; shell-style
    # patterns); empty: every function of the app.
    readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeySpec:
    logical: str
    description: str


@dataclass(frozen=True)
class Resources:
    queues: list[QueueSpec] = field(default_factory=list)
    buckets: list[BucketSpec] = field(default_factory=list)
    topics: list[TopicSpec] = field(default_factory=list)
    secrets: list[SecretSpec] = field(default_factory=list)
    keys: list[KeySpec] = field(default_factory=list)



PAYMENT_READERS = ("api", "handle-jobs", "schedule-payment-*")

RESOURCES = Resources(
    queues=[QueueSpec(JOBS_QUEUE, visibility_timeout=900),
            QueueSpec(SMS_OUTBOX_QUEUE, visibility_timeout=120),
            QueueSpec(NOTICE_SMS_QUEUE, visibility_timeout=60),
            # Six times the processor's Lambda timeout, as AWS advises for SQS event sources.
            QueueSpec(PHOTO_UPLOADS_QUEUE, visibility_timeout=180, max_receive_count=3)],
    buckets=[BucketSpec(PHOTOS_BUCKET, browser_uploads=True,
                        notifications=(BucketNotification(queue=PHOTO_UPLOADS_QUEUE, prefix="uploads/"),)),
             BucketSpec(RECEIPTS_BUCKET)],  # private; every receipt is put with SSE
    topics=[TopicSpec(DOOR_ACCESS_TOPIC)],
    secrets=[SecretSpec(TOKEN_KEYS_SECRET, "HMAC keys for access tokens and cursors, by key id"),
             # Provider keys reach only the functions that talk to providers: the API (orders, notices, staff
             # refunds), the jobs worker and the payment schedules (expiry, reconciliation).
             *(SecretSpec(logical, f"Payment provider {provider}: JSON config (see adapters/payments/{provider}.py)",
                          filled_by="operator", readers=PAYMENT_READERS)
               for provider, logical in PAYMENT_PROVIDER_SECRETS.items())],
    keys=[KeySpec(APP_KEY, "Envelope key for secrets stored in tables (TOTP) and data at rest")],
)


def table_models() -> list[type[Model]]:
    """Every PynamoDB model, i.e. every table of the app."""
    from chalicelib.adapters.dynamo.auth import AUTH_MODELS
    from chalicelib.adapters.dynamo.billing_models import BILLING_MODELS
    from chalicelib.adapters.dynamo.board import BOARD_MODELS
    from chalicelib.adapters.dynamo.household import HOUSEHOLD_MODELS
    from chalicelib.adapters.dynamo.jobs import JOB_MODELS
    from chalicelib.adapters.dynamo.messages import MESSAGES_MODELS
    from chalicelib.adapters.dynamo.models import PLATFORM_MODELS
    from chalicelib.adapters.dynamo.notices import NOTICE_MODELS
    from chalicelib.adapters.dynamo.reminders import REMINDER_MODELS
    from chalicelib.adapters.dynamo.repairs import REPAIR_MODELS

    return [*PLATFORM_MODELS, *AUTH_MODELS, *REPAIR_MODELS, *HOUSEHOLD_MODELS, *MESSAGES_MODELS, *BOARD_MODELS,
            *BILLING_MODELS, *REMINDER_MODELS, *NOTICE_MODELS, *JOB_MODELS]
