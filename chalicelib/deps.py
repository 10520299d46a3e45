"""The one place where AWS clients, adapters and domain services are built, lazily and once per container.

Nothing here runs at import time: a Lambda that never sends SMS never builds an SNS client. Tests call
`reset()` to drop everything built under another emulator or settings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from chalicelib.settings import get_settings

F = TypeVar("F", bound=Callable[..., Any])
_PROVIDERS: list[Any] = []


def provider(fn: F) -> F:
    """Cache a builder for the life of the container and register it so `reset()` can forget it."""
    cached = cache(fn)
    _PROVIDERS.append(cached)
    return cached  # type: ignore[return-value]


@provider
def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=10)
    return boto3.session.Session().client(service, region_name=get_settings().region, config=config)


@provider
def keyring():
    from chalicelib.adapters.keyring import Keyring
    from chalicelib.resources import TOKEN_KEYS_SECRET

    secret_id = get_settings().name(TOKEN_KEYS_SECRET)
    return Keyring(lambda: aws_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


@provider
def accounts():
    from chalicelib.adapters.dynamo.repositories import DynamoAccounts

    return DynamoAccounts()


@provider
def communities():
    from chalicelib.adapters.dynamo.repositories import DynamoCommunities

    return DynamoCommunities()


@provider
def audit():
    from chalicelib.adapters.dynamo.repositories import DynamoAuditLog

    return DynamoAuditLog()


@provider
def session_service():
    from chalicelib.adapters.dynamo.repositories import DynamoSessions
    from chalicelib.adapters.keyring import JwtSigner
    from chalicelib.domain.sessions import SessionService

    return SessionService(DynamoSessions(), JwtSigner(keyring()))


@provider
def directory():
    from chalicelib.adapters.dynamo.repositories import DynamoSessions
    from chalicelib.domain.directory import Directory

    return Directory(accounts(), DynamoSessions(), communities(), audit())


@provider
def auth_service():
    from chalicelib.domain.auth import AuthService

    return AuthService(accounts(), session_service(), audit())


@provider
def sms():
    from chalicelib.adapters.messaging import SnsSms

    return SnsSms(aws_client("sns"), get_settings().sms_allowed_country_codes)


@provider
def jobs():
    from chalicelib.adapters.messaging import SqsJobs
    from chalicelib.resources import JOBS_QUEUE

    return SqsJobs(aws_client("sqs"), get_settings().name(JOBS_QUEUE))


@provider
def notice_store():
    from chalicelib.adapters.dynamo.notices import DynamoNotices

    return DynamoNotices()


@provider
def notice_service():
    from chalicelib.domain.notices import NoticeService

    return NoticeService(notice_store(), accounts(), communities(), jobs(), audit())


@provider
def event_service():
    from chalicelib.adapters.dynamo.notices import DynamoEvents
    from chalicelib.domain.notices import EventService

    return EventService(DynamoEvents(), accounts(), communities(), audit())


@provider
def notice_sms():
    from chalicelib.adapters.dynamo.notices import DynamoOwnerDirectory, DynamoSentLog
    from chalicelib.adapters.notice_queue import SqsSmsQueue
    from chalicelib.domain.notice_sms import NoticeSms
    from chalicelib.resources import NOTICE_SMS_QUEUE

    settings = get_settings()
    queue = SqsSmsQueue(aws_client("sqs"), settings.name(NOTICE_SMS_QUEUE))
    return NoticeSms(notice_store(), DynamoOwnerDirectory(), queue, jobs(), DynamoSentLog(), sms(),
                     settings.notice_sms_per_second)


def reset() -> None:
    """Forget every client and service (tests, or after settings change)."""
    for cached in _PROVIDERS:
        cached.cache_clear()
    get_settings.cache_clear()
