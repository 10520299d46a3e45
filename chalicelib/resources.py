"""The one definition of every AWS resource the app uses.

The local stack (`devstack`), the integration tests and infra/ all read this module; the tables come from
the PynamoDB models themselves. Names are logical here and become `<RESOURCE_PREFIX>-<logical>` per stage.
Later areas append to these lists; nothing else in the project creates resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynamodb.models import Model


@dataclass(frozen=True)
class QueueSpec:
    logical: str
    visibility_timeout: int = 60
    max_receive_count: int = 5  # deliveries before a message moves to the dead-letter queue

    @property
    def dlq(self) -> str:
        return f"{self.logical}-dlq"


@dataclass(frozen=True)
class BucketNotification:
    queue: str
    prefix: str
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class BucketSpec:
    logical: str
    notifications: tuple[BucketNotification, ...] = ()


@dataclass(frozen=True)
class TopicSpec:
    logical: str


@dataclass(frozen=True)
class SecretSpec:
    logical: str
    description: str


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


# Logical names used in code; kept as constants so a typo fails at import, not at run time.
JOBS_QUEUE = "jobs"
NOTICE_SMS_QUEUE = "notice-sms"  # one message per owner to text about an urgent notice
TOKEN_KEYS_SECRET = "token-keys"
APP_KEY = "app"

RESOURCES = Resources(
    queues=[QueueSpec(JOBS_QUEUE, visibility_timeout=900), QueueSpec(NOTICE_SMS_QUEUE, visibility_timeout=60)],
    buckets=[],
    topics=[],
    secrets=[SecretSpec(TOKEN_KEYS_SECRET, "HMAC keys for access tokens and cursors, by key id")],
    keys=[KeySpec(APP_KEY, "Envelope key for secrets stored in tables (TOTP) and data at rest")],
)


def table_models() -> list[type[Model]]:
    """Every PynamoDB model, i.e. every table of the app."""
    from chalicelib.adapters.dynamo.models import PLATFORM_MODELS
    from chalicelib.adapters.dynamo.notices import NOTICE_MODELS

    return [*PLATFORM_MODELS, *NOTICE_MODELS]
