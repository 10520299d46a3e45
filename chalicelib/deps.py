"""The one place where AWS clients, adapters and domain services are built, lazily and once per container.

Nothing here runs at import time: a Lambda that never sends SMS never builds an SNS client. Tests call
`reset()` to drop everything built under another emulator or settings, and `override(...)` to put a fake in
place of any provider for a while (a service, or the clocks every service reads):

    with deps.override(directory=lambda: Exploding()):
        ...
    with deps.override(epoch_clock=lambda: frozen.time):   # every auth step now reads the frozen clock
        ...
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.settings import get_settings

if TYPE_CHECKING:  # the services' types, for the return annotations only (never imported on the cold path)
    from chalicelib.adapters.dynamo.auth import DynamoChallenges
    from chalicelib.adapters.keyring import Keyring
    from chalicelib.adapters.messaging import SnsSms, SqsJobs
    from chalicelib.adapters.storage import S3Photos
    from chalicelib.domain.auth import AuthConfig, AuthService
    from chalicelib.domain.bills import BillingService
    from chalicelib.domain.board import BoardService
    from chalicelib.domain.directory import Directory
    from chalicelib.domain.home import HomeService
    from chalicelib.domain.household import HouseholdService
    from chalicelib.domain.messages import MessageService
    from chalicelib.domain.notice_sms import NoticeSms
    from chalicelib.domain.notices import EventService, NoticeService
    from chalicelib.domain.payments import PaymentService
    from chalicelib.domain.photos import PhotoProcessor
    from chalicelib.domain.profile import ProfileService
    from chalicelib.domain.receipts import ReceiptService
    from chalicelib.domain.refunds import RefundNotifier, RefundService
    from chalicelib.domain.reminders import FeeReminders, ReminderSender
    from chalicelib.domain.repairs import RepairNotifier, RepairService
    from chalicelib.domain.sessions import SessionService

F = TypeVar("F", bound=Callable[..., Any])
_PROVIDERS: list[Any] = []
_OVERRIDES: dict[str, Callable[..., Any]] = {}


def provider(fn: F) -> F:
    """Cache a builder for the life of the container and register it for `reset()` and `override()`."""
    cached = cache(fn)
    name = fn.__name__

    @functools.wraps(fn)
    def get(*args: Any) -> Any:
        replacement = _OVERRIDES.get(name)
        return replacement(*args) if replacement is not None else cached(*args)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    get.build = fn  # type: ignore[attr-defined]  # a new one, uncached (see `rebuilt`)
    _PROVIDERS.append(get)
    return get  # type: ignore[return-value]


@contextmanager
def override(**replacements: Callable[..., Any]) -> Iterator[None]:
    """Within the block, each named provider answers what its replacement returns (tests only)."""
    unknown = sorted(set(replacements) - {p.__name__ for p in _PROVIDERS})
    if unknown:
        raise ValueError(f"no such providers: {unknown}")
    before = dict(_OVERRIDES)
    _OVERRIDES.update(replacements)
    try:
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(before)


@contextmanager
def rebuilt(name: str, **collaborators: Any) -> Iterator[Any]:
    """Within the block, provider `name` answers one instance built anew from `collaborators` (each replacing
    the provider of that name) and the usual providers for the rest; yields it (tests only).

        with deps.rebuilt("auth_service", accounts=counting_accounts) as service:
            ...
    """
    builder = next((p for p in _PROVIDERS if p.__name__ == name), None)
    if builder is None:
        raise ValueError(f"no such provider: {name}")
    with override(**{key: (lambda value=value: value) for key, value in collaborators.items()}):
        instance = builder.build()
        with override(**{name: lambda: instance}):
            yield instance


@provider
def epoch_clock() -> Callable[[], float]:
    """Seconds since the epoch, as the authentication steps read it."""
    return time.time


@provider
def utc_clock() -> Callable[[], datetime]:
    """The current UTC time, as the other services read it."""
    from chalicelib.domain.ids import utcnow

    return utcnow


def _epoch_now() -> float:
    return epoch_clock()()


def _utc_now() -> datetime:
    return utc_clock()()


def _utc_epoch() -> float:
    """The sessions' clock in epoch seconds: tokens are checked against the clock that dated them."""
    return utc_clock()().timestamp()


# DynamoDB's bounds, the ones every PynamoDB model declares (adapters/dynamo/base.py `table_meta`): Lambda
# reuses connections, and a slow table must fail fast.
DYNAMODB_CONNECT_TIMEOUT_SECONDS = 2
DYNAMODB_READ_TIMEOUT_SECONDS = 5
DYNAMODB_MAX_RETRY_ATTEMPTS = 3
# botocore sessions are not safe to build clients from in several threads at once (two threads racing on the
# very first use may still each build one; both work, one is dropped).
_CLIENT_BUILD = threading.Lock()
# Built on first use, not at `import app`: Lambda bills the init phase like the invocation, so building at
# import would save no billed time, while it would tax every import of the app (tests, tools, the cold-start
# bench) and build clients outside the tests' emulator.


@provider
def botocore_session() -> Any:
    """The container's one botocore session. A session holds the loaded service models and endpoint rules:
    one per client (what `boto3.session.Session()` per service and PynamoDB per model class each build)
    loads them again, in CPU at cold start and in memory for the container's life."""
    import botocore.session

    return botocore.session.Session()


@provider
def aws_client(service: str) -> Any:
    """The container's one botocore client for `service`, shared by every adapter (PynamoDB's models and
    transactions included: see `adapters.dynamo.base.SharedClientConnection`).

    Plain botocore: every call the adapters make is a client method botocore defines (presigned URLs and
    posts included), so boto3 and its import cost stay off the request path."""
    from botocore.config import Config

    if service == "dynamodb":
        # PynamoDB's own client settings: it builds the requests, botocore's validation of them is skipped.
        config = Config(parameter_validation=False, connect_timeout=DYNAMODB_CONNECT_TIMEOUT_SECONDS,
                        read_timeout=DYNAMODB_READ_TIMEOUT_SECONDS,
                        retries={"total_max_attempts": 1 + DYNAMODB_MAX_RETRY_ATTEMPTS, "mode": "standard"})
    else:
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=10)
    with _CLIENT_BUILD:
        return botocore_session().create_client(service, region_name=get_settings().region, config=config)


@provider
def keyring() -> Keyring:
    from chalicelib.adapters.keyring import Keyring
    from chalicelib.names import TOKEN_KEYS_SECRET

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
def session_service() -> SessionService:
    from chalicelib.adapters.dynamo.repositories import DynamoSessions
    from chalicelib.adapters.keyring import JwtSigner
    from chalicelib.domain.sessions import SessionService

    return SessionService(DynamoSessions(), JwtSigner(keyring(), clock=_utc_epoch), clock=_utc_now)


@provider
def directory() -> Directory:
    from chalicelib.adapters.dynamo.repositories import DynamoSessions
    from chalicelib.domain.directory import Directory

    return Directory(accounts(), DynamoSessions(), communities(), audit(), clock=_utc_now)


@provider
def auth_service() -> AuthService:
    """The authentication services, each given only the collaborators it needs (see domain/auth/)."""
    from chalicelib.adapters.captcha_image import render_png
    from chalicelib.adapters.dynamo.auth import (
        DynamoCaptchas,
        DynamoCounters,
        DynamoDevices,
        DynamoLoginState,
    )
    from chalicelib.domain import auth

    config = auth_config()
    keys, state, counters, store = keyring().long_lived, DynamoLoginState(), DynamoCounters(), challenge_store()
    captcha = auth.CaptchaService(DynamoCaptchas(), keys, config, render_png, clock=_epoch_now)
    password = auth.PasswordStep(accounts(), state, counters, captcha, audit(), config, clock=_epoch_now)
    challenges = auth.ChallengeService(store)
    codes = auth.SmsCodes(store, challenges, sms(), keys, config, clock=_epoch_now)
    totp = auth.TotpFactor(state, secret_box())
    factors = auth.SecondFactors(auth.SmsFactor(codes), totp)
    devices = auth.TrustedDevices(DynamoDevices(), state)
    return auth.AuthService(
        captcha=captcha, password=password, challenges=challenges, codes=codes, factors=factors, devices=devices,
        sign_in=auth.SignIn(password, devices, challenges, factors, accounts(), session_service(), audit(),
                            clock=_epoch_now),
        totp=auth.TotpEnrollment(accounts(), state, secret_box(), counters, totp, audit(), clock=_epoch_now),
        recovery=auth.Recovery(accounts(), captcha, challenges, codes, devices, session_service(), audit(), keys,
                                clock=_epoch_now),
        phone_change=auth.PhoneChange(accounts(), password, challenges, codes, sms(), audit(), clock=_epoch_now),
        account=auth.AccountSessions(accounts(), session_service(), password, audit()),
    )


@provider
def challenge_store() -> DynamoChallenges:
    from chalicelib.adapters.dynamo.auth import DynamoChallenges

    return DynamoChallenges()


@provider
def auth_config() -> AuthConfig:
    """The sign-in limits of the stage's settings."""
    from chalicelib.domain.auth import AuthConfig

    settings = get_settings()
    return AuthConfig(settings.sms_per_ip_per_hour, settings.login_failures_per_ip_before_captcha,
                      settings.captcha_test_answer)


@provider
def secret_box():
    from chalicelib.adapters.crypto import KmsEnvelope
    from chalicelib.names import APP_KEY

    return KmsEnvelope(aws_client("kms"), f"alias/{get_settings().name(APP_KEY)}")


@provider
def sms() -> SnsSms:
    from chalicelib.adapters.messaging import SnsSms

    return SnsSms(aws_client("sns"), get_settings().sms_allowed_country_codes)


@provider
def jobs() -> SqsJobs:
    from chalicelib.adapters.messaging import SqsJobs
    from chalicelib.names import JOBS_QUEUE

    return SqsJobs(aws_client("sqs"), get_settings().name(JOBS_QUEUE))


@provider
def repairs_repository():
    from chalicelib.adapters.dynamo.repairs import DynamoRepairs

    return DynamoRepairs()


@provider
def photo_store() -> S3Photos:
    from chalicelib.adapters.storage import S3Photos
    from chalicelib.names import PHOTOS_BUCKET

    return S3Photos(aws_client("s3"), get_settings().name(PHOTOS_BUCKET))


@provider
def repair_service() -> RepairService:
    from chalicelib.domain.repairs import RepairService

    return RepairService(repairs_repository(), accounts(), communities(), audit(), photo_store(), jobs(),
                         clock=_utc_now)


@provider
def repair_notifier() -> RepairNotifier:
    from chalicelib.domain.repairs import RepairNotifier

    return RepairNotifier(repairs_repository(), accounts(), communities(), sms())


@provider
def photo_processor() -> PhotoProcessor:
    from chalicelib.adapters.images import PillowCodec
    from chalicelib.domain.photos import PhotoProcessor

    return PhotoProcessor(repairs_repository(), photo_store(), PillowCodec())


@provider
def profile_service() -> ProfileService:
    from chalicelib.adapters.dynamo.profile import DynamoProfiles
    from chalicelib.domain.profile import ProfileService

    return ProfileService(accounts(), DynamoProfiles(), audit(), clock=_utc_now)


@provider
def door_access():
    from chalicelib.adapters.door_access import SnsDoorAccess
    from chalicelib.names import DOOR_ACCESS_TOPIC

    def topic_arn() -> str:
        settings = get_settings()
        account_id = aws_client("sts").get_caller_identity()["Account"]
        return f"arn:aws:sns:{settings.region}:{account_id}:{settings.name(DOOR_ACCESS_TOPIC)}"

    return SnsDoorAccess(aws_client("sns"), topic_arn)


@provider
def household() -> HouseholdService:
    from chalicelib.adapters.dynamo.household import DynamoHousehold
    from chalicelib.domain.household import HouseholdService

    return HouseholdService(DynamoHousehold(), communities(), door_access(), audit(), clock=_utc_now)


@provider
def messages() -> MessageService:
    from chalicelib.adapters.dynamo.messages import DynamoMessages
    from chalicelib.domain.messages import MessageService

    return MessageService(DynamoMessages(), accounts(), audit(), clock=_utc_now)


@provider
def board() -> BoardService:
    from chalicelib.adapters.dynamo.auth import DynamoCounters
    from chalicelib.adapters.dynamo.board import DynamoBoard
    from chalicelib.domain.board import BoardService

    return BoardService(DynamoBoard(), accounts(), DynamoCounters(), audit(), clock=_utc_now)


@provider
def billing() -> BillingService:
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
    from chalicelib.names import BILLING_RUN_JOB

    return BillingService(communities(), DynamoUnitsForBilling(), DynamoFeeSchedules(), DynamoReadings(),
                          DynamoBills(), DynamoBillingRuns(), lambda payload: jobs().send(BILLING_RUN_JOB, payload),
                          encode_position, decode_position, clock=_utc_now)


@provider
def payment_providers():
    """The stage's payment providers, each configured from its Secrets Manager secret on first use (and kept
    10 minutes: see adapters/payments/registry.py)."""
    from chalicelib.adapters.payments.registry import build_providers
    from chalicelib.adapters.secrets import CachedSecret

    return build_providers(get_settings(), lambda secret_id: CachedSecret(lambda: aws_client("secretsmanager"),
                                                                          secret_id))


@provider
def payments_store():
    from chalicelib.adapters.dynamo.payments import DynamoPayments

    return DynamoPayments()


@provider
def payments() -> PaymentService:
    from chalicelib.adapters.dynamo.billing import DynamoBills
    from chalicelib.domain.payments import PaymentService
    from chalicelib.names import PAYMENT_RECEIPT_JOB

    def community_name(community_id: str) -> str:
        community = communities().get_community(community_id)
        return community.name if community else ""

    return PaymentService(DynamoBills(), payments_store(), payment_providers(), community_name,
                          lambda payment: jobs().send(PAYMENT_RECEIPT_JOB, {"payment_id": payment.payment_id}),
                          clock=_utc_now, on_refund_due=lambda payment: refunds().refund_late_payment(payment))


@provider
def refund_store():
    from chalicelib.adapters.dynamo.payments import DynamoRefunds

    return DynamoRefunds()


@provider
def refunds() -> RefundService:
    """Refunds (staff, the late-notice case, refund notices and the reconciliation); the owner is texted by job."""
    from chalicelib.adapters.dynamo.billing import DynamoBills
    from chalicelib.adapters.dynamo.payments import DynamoPaymentSettings
    from chalicelib.domain.refunds import RefundService
    from chalicelib.names import REFUND_SMS_JOB

    return RefundService(payments_store(), DynamoBills(), refund_store(), DynamoPaymentSettings(),
                         payment_providers(), communities(),
                         lambda refund: jobs().send(REFUND_SMS_JOB, {"refund_id": refund.refund_id}), clock=_utc_now)


@provider
def refund_notifier() -> RefundNotifier:
    from chalicelib.domain.refunds import RefundNotifier

    store = refund_store()
    return RefundNotifier(store, accounts(), sms(), store.claim_sms, store.release_sms)


@provider
def receipts() -> ReceiptService:
    from chalicelib.adapters.dynamo.billing import DynamoBills
    from chalicelib.adapters.dynamo.payments import DynamoReceipts
    from chalicelib.adapters.receipts import LINK_SECONDS, S3ReceiptStore, render_pdf
    from chalicelib.domain.receipts import ReceiptService
    from chalicelib.names import RECEIPTS_BUCKET

    settings = get_settings()
    store = S3ReceiptStore(aws_client("s3"), settings.name(RECEIPTS_BUCKET))
    return ReceiptService(payments_store(), DynamoBills(), accounts(), DynamoReceipts(), store, render_pdf,
                          lambda: keyring().long_lived("receipt-code-v1"), settings.receipt_verify_url, LINK_SECONDS)


@provider
def payment_id_key() -> bytes:
    return keyring().long_lived("payment-id-v1")


@provider
def idempotent_create_payment():
    """`domain.payments.create_for_request` wrapped in Powertools' idempotency (its own table), built on first use.

    Returns the idempotency config (for `register_lambda_context`) and `create(request=..., principal=...)`.
    """
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from chalicelib.domain.payments import create_for_request
    from chalicelib.names import IDEMPOTENCY_TABLE

    store = DynamoDBPersistenceLayer(table_name=get_settings().name(IDEMPOTENCY_TABLE), key_attr="id",
                                     expiry_attr="expiration", boto3_client=aws_client("dynamodb"))
    config = IdempotencyConfig(event_key_jmespath="[caller, key]", payload_validation_jmespath="body",
                               raise_on_no_idempotency_key=True, expires_after_seconds=24 * 3600)

    def create_payment(request: dict[str, Any], principal: Any) -> dict[str, Any]:
        return create_for_request(payments(), payment_id_key(), request, principal)

    return config, idempotent_function(data_keyword_argument="request", persistence_store=store,
                                       config=config)(create_payment)


@provider
def sms_outbox() -> SqsJobs:
    from chalicelib.adapters.messaging import SqsJobs
    from chalicelib.names import SMS_OUTBOX_QUEUE

    return SqsJobs(aws_client("sqs"), get_settings().name(SMS_OUTBOX_QUEUE))


@provider
def fee_reminders() -> FeeReminders:
    from chalicelib.adapters.dynamo.reminders import DynamoReminderLog, DynamoReminderSource
    from chalicelib.domain.reminders import FeeReminders

    return FeeReminders(DynamoReminderSource(), DynamoReminderLog(), sms_outbox(), _utc_now)


@provider
def reminder_sender() -> ReminderSender:
    from chalicelib.adapters.dynamo.reminders import DynamoReminderLog
    from chalicelib.domain.reminders import ReminderSender

    return ReminderSender(DynamoReminderLog(), sms())


@provider
def notice_store():
    from chalicelib.adapters.dynamo.notices import DynamoNotices

    return DynamoNotices()


@provider
def notice_service() -> NoticeService:
    from chalicelib.domain.notices import NoticeService

    return NoticeService(notice_store(), accounts(), communities(), jobs(), audit(), clock=_utc_now)


@provider
def event_service() -> EventService:
    from chalicelib.adapters.dynamo.notices import DynamoEvents
    from chalicelib.domain.notices import EventService

    return EventService(DynamoEvents(), accounts(), communities(), audit(), clock=_utc_now)


@provider
def home_service() -> HomeService:
    """`GET /home`: the owner's first screen in a fixed number of calls (see domain/home.py)."""
    from chalicelib.adapters.dynamo.owner_lookups import DynamoOwnerLookups
    from chalicelib.domain.home import HomeService

    return HomeService(notice_service(), event_service(), repair_service(), DynamoOwnerLookups(),
                       billing().owner_today)


@provider
def notice_sms() -> NoticeSms:
    from chalicelib.adapters.dynamo.notices import DynamoOwnerDirectory, DynamoSentLog
    from chalicelib.adapters.notice_queue import SqsSmsQueue
    from chalicelib.domain.notice_sms import NoticeSms
    from chalicelib.names import NOTICE_SMS_QUEUE

    settings = get_settings()
    queue = SqsSmsQueue(aws_client("sqs"), settings.name(NOTICE_SMS_QUEUE))
    return NoticeSms(notice_store(), DynamoOwnerDirectory(), queue, jobs(), DynamoSentLog(), sms(),
                     settings.sms_rate_per_second, clock=_utc_now)


def reset() -> None:
    """Forget every client and service (tests, or after settings change): the botocore session and clients
    too, so the next ones are built under the current emulator (PynamoDB's models ask for the client on every
    call and follow)."""
    for cached in _PROVIDERS:
        cached.cache_clear()
    get_settings.cache_clear()
