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
def billing():
    from chalicelib.adapters.dynamo.billing import (
        DynamoBillingRuns,
        DynamoBills,
        DynamoFeeSchedules,
        DynamoReadings,
        DynamoUnitsForBilling,
        decode_position,
        encode_position,
    )
    from chalicelib.domain.bills import BillingService

    return BillingService(communities(), DynamoUnitsForBilling(), DynamoFeeSchedules(), DynamoReadings(),
                          DynamoBills(), DynamoBillingRuns(), lambda payload: jobs().send("billing-run", payload),
                          encode_position, decode_position)


@provider
def payment_providers():
    from chalicelib.adapters.payments.providers import build_providers

    return build_providers(get_settings())


@provider
def payments_store():
    from chalicelib.adapters.dynamo.billing import DynamoPayments

    return DynamoPayments()


@provider
def payments():
    from chalicelib.adapters.dynamo.billing import DynamoBills
    from chalicelib.domain.payments import PaymentService

    def community_name(community_id: str) -> str:
        community = communities().get_community(community_id)
        return community.name if community else ""

    return PaymentService(DynamoBills(), payments_store(), payment_providers(), community_name,
                          lambda payment: jobs().send("payment-receipt", {"payment_id": payment.payment_id}))


@provider
def receipts():
    from chalicelib.adapters.dynamo.billing import DynamoBills, DynamoReceipts
    from chalicelib.adapters.receipts import LINK_SECONDS, S3ReceiptStore, render_pdf
    from chalicelib.domain.receipts import ReceiptService
    from chalicelib.resources import RECEIPTS_BUCKET

    settings = get_settings()
    store = S3ReceiptStore(aws_client("s3"), settings.name(RECEIPTS_BUCKET))
    return ReceiptService(payments_store(), DynamoBills(), accounts(), DynamoReceipts(), store, render_pdf,
                          lambda: keyring().derived("receipt-code-v1"), settings.receipt_verify_url, LINK_SECONDS)


@provider
def payment_id_key() -> bytes:
    return keyring().derived("payment-id-v1")


@provider
def idempotent_create_payment():
    """`POST /payments` wrapped in Powertools' idempotency (its own table), built on first use."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from chalicelib.api.payments_core import create_payment_response
    from chalicelib.resources import IDEMPOTENCY_TABLE

    store = DynamoDBPersistenceLayer(table_name=get_settings().name(IDEMPOTENCY_TABLE), key_attr="id",
                                     expiry_attr="expiration", boto3_client=aws_client("dynamodb"))
    config = IdempotencyConfig(event_key_jmespath="[caller, key]", payload_validation_jmespath="body",
                               raise_on_no_idempotency_key=True, expires_after_seconds=24 * 3600)
    return config, idempotent_function(data_keyword_argument="request", persistence_store=store,
                                       config=config)(create_payment_response)


def reset() -> None:
    """Forget every client and service (tests, or after settings change)."""
    for cached in _PROVIDERS:
        cached.cache_clear()
    get_settings.cache_clear()
