"""Payment provider configuration from Secrets Manager: what a stage serves for each state of a provider's secret,
the bounded cache, the early re-read after a signature failure, and the logs an operator sees."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.payments.common import InvalidSignature, ProviderConfigError
from chalicelib.adapters.payments.registry import ProviderMisconfigured, build_providers
from chalicelib.adapters.secrets import CachedSecret, SecretUnavailable
from chalicelib.domain.payments import MethodUnavailable

SANDBOX = "sandbox-secret"


class Settings:
    """The settings the registry reads (a plain stand-in: no environment involved)."""

    def __init__(self, stage: str = "test"):
        self.stage = stage
        self.is_test_stage = stage in ("local", "test")
        self.sandbox_payment_secret = SANDBOX if self.is_test_stage else None
        self.public_api_url = "https://api.example.cn/api"

    def name(self, logical: str) -> str:
        return f"op-{self.stage}-{logical}"

    def notify_url(self, provider: str) -> str:
        return f"{self.public_api_url}/payments/callbacks/{provider}"


class FakeSecretsManager:
    """Secrets Manager's GetSecretValue as botocore answers it: a value, ResourceNotFound, or a failure."""

    class exceptions:  # botocore's attribute name
        class ResourceNotFoundException(ClientError):
            def __init__(self) -> None:
                super().__init__({"Error": {"Code": "ResourceNotFoundException"}}, "GetSecretValue")

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.reads: list[str] = []
        self.failing = False

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # botocore's parameter name
        self.reads.append(SecretId)
        if self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "GetSecretValue")
        value = self.values.get(SecretId)
        if value is None:
            raise self.exceptions.ResourceNotFoundException()
        return {"SecretString": value}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProvider:
    """A provider whose notices verify only when signed (`b"<key>:..."`) with the key its config names."""

    success = "ok"

    def __init__(self, name: str, config: dict[str, str], notify_url: str, transport: object):
        self.name, self.config, self.notify_url, self.transport = name, config, notify_url, transport

    def parse(self, headers: dict[str, str], raw: bytes) -> str:
        if not raw.startswith(self.config["key"].encode() + b":"):
            raise InvalidSignature()
        return raw.decode()


def factory(name: str, built: list[FakeProvider]):
    def from_config(config: dict[str, str], *, notify_url: str, transport: object = None) -> FakeProvider:
        if "key" not in config:
            raise ProviderConfigError("field key is missing")
        if config["key"] == "explode":
            raise ValueError("could not parse -----BEGIN PRIVATE KEY----- MIIEv...")
        built.append(FakeProvider(name, config, notify_url, transport))
        return built[-1]

    return from_config


@pytest.fixture
def world():
    class World:
        def __init__(self) -> None:
            self.aws = FakeSecretsManager()
            self.clock = Clock()
            self.built: list[FakeProvider] = []
            self.transport = object()

        def registry(self, stage: str = "test"):
            settings = Settings(stage)
            return build_providers(
                settings, lambda secret_id: CachedSecret(lambda: self.aws, secret_id, clock=self.clock),
                factories={name: factory(name, self.built) for name in ("alipay", "wechat")},
                transport=self.transport)

        def put(self, provider: str, value: object, stage: str = "test") -> None:
            text = value if isinstance(value, str) or value is None else json.dumps(value)
            self.aws.values[f"op-{stage}-payments-{provider}"] = text

    return World()


@pytest.fixture
def log_lines():
    """Everything the app's Powertools logger writes, through its real (redacting) formatter."""
    from chalicelib.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)


def _records(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


# -- what a stage serves --------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [None, "", "{}"])
def test_registry_without_config_lets_the_sandbox_stand_in_locally(world, content):
    world.put("alipay", content)
    provider = world.registry("test").for_method("alipay")
    assert provider.name == "sandbox"


@pytest.mark.parametrize("content", [None, "", "{}"])
def test_registry_without_config_refuses_the_method_in_a_real_stage(world, content):
    world.put("alipay", content, stage="prod")
    registry = world.registry("prod")
    with pytest.raises(MethodUnavailable):
        registry.for_method("alipay")
    with pytest.raises(MethodUnavailable):
        registry.for_method("sandbox")  # never in a real stage
    assert registry.for_callback("alipay") is None and registry.for_callback("sandbox") is None


def test_registry_serves_a_configured_provider_with_the_stage_notify_url(world):
    world.put("wechat", {"key": "k1", "mch_id": "1900000109"}, stage="prod")
    provider = world.registry("prod").for_method("wechat")
    assert provider.name == "wechat"
    assert provider.config == {"key": "k1", "mch_id": "1900000109"}
    assert provider.notify_url == "https://api.example.cn/api/payments/callbacks/wechat"
    assert provider.transport is world.transport


def test_a_configured_provider_serves_its_method_in_test_stages_too(world):
    world.put("alipay", {"key": "k1"})
    registry = world.registry("test")
    assert registry.for_method("alipay").name == "alipay"
    assert registry.for_method("wechat").name == "sandbox"  # no config: the sandbox stands in


@pytest.mark.parametrize("content, problem", [
    ("not json", "the secret is not valid JSON"),
    ('["key"]', "the secret is not a JSON object"),
    ({"app_id": "2021000"}, "field key is missing"),
    ({"key": "explode"}, "the provider refused its config (ValueError)"),
])
def test_a_malformed_config_answers_misconfigured_and_logs_one_error(world, log_lines, content, problem):
    world.put("alipay", content)
    registry = world.registry("test")
    for _ in range(3):  # orders and notices alike, however many arrive
        with pytest.raises(ProviderMisconfigured) as raised:
            registry.for_method("alipay")
        with pytest.raises(ProviderMisconfigured):
            registry.for_callback("alipay")
    assert raised.value.code == "provider_misconfigured" and raised.value.details == {"provider": "alipay"}
    errors = [r for r in _records(log_lines) if r["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["message"] == "payment provider misconfigured"
    assert errors[0]["provider"] == "alipay" and errors[0]["problem"] == problem
    assert "BEGIN PRIVATE KEY" not in log_lines.getvalue() and "2021000" not in log_lines.getvalue()


def test_a_fixed_config_is_served_once_read_again(world, log_lines):
    world.put("alipay", {"app_id": "2021000"}, stage="prod")
    registry = world.registry("prod")
    with pytest.raises(ProviderMisconfigured):
        registry.for_method("alipay")
    world.put("alipay", {"key": "k1"}, stage="prod")
    world.clock.now += 600
    assert registry.for_method("alipay").config == {"key": "k1"}


# -- caching and rotation -------------------------------------------------------------------------------------


def test_secret_is_read_on_first_use_then_kept_ten_minutes(world):
    world.put("alipay", {"key": "k1"})
    registry = world.registry()
    assert world.aws.reads == []  # nothing read when the registry is built (cold start)
    registry.for_method("alipay")
    registry.for_method("alipay")
    world.clock.now += 599
    registry.for_method("alipay")
    assert world.aws.reads == ["op-test-payments-alipay"]
    world.clock.now += 1
    registry.for_method("alipay")
    assert len(world.aws.reads) == 2
    assert len(world.built) == 1  # the same config read again builds nothing new


def test_rotated_key_is_picked_up_at_the_first_notice_that_fails_to_verify(world):
    world.put("alipay", {"key": "k1"})
    registry = world.registry()
    assert registry.for_callback("alipay").parse({}, b"k1:paid") == "k1:paid"
    # given the operator rotated the key in the secret, and the provider now signs with the new one
    world.put("alipay", {"key": "k2"})
    world.clock.now += 60
    # then the next notice verifies at once, not ten minutes later
    assert registry.for_callback("alipay").parse({}, b"k2:paid") == "k2:paid"
    assert registry.for_callback("alipay").parse({}, b"k2:again") == "k2:again"
    with pytest.raises(InvalidSignature):
        registry.for_callback("alipay").parse({}, b"k1:old")


def test_forged_notices_reread_the_secret_at_most_once_a_minute(world):
    world.put("alipay", {"key": "k1"})
    registry = world.registry()
    provider = registry.for_callback("alipay")
    for _ in range(20):
        with pytest.raises(InvalidSignature):
            provider.parse({}, b"forged:paid")
    assert len(world.aws.reads) == 1
    world.clock.now += 60
    for _ in range(20):
        with pytest.raises(InvalidSignature):
            provider.parse({}, b"forged:paid")
    assert len(world.aws.reads) == 2


def test_secrets_manager_failing_keeps_the_last_config(world):
    world.put("alipay", {"key": "k1"})
    registry = world.registry()
    registry.for_method("alipay")
    world.aws.failing = True
    world.clock.now += 600
    assert registry.for_method("alipay").config == {"key": "k1"}
    reads = len(world.aws.reads)
    registry.for_method("alipay")
    assert len(world.aws.reads) == reads  # not retried on every request
    world.clock.now += 60
    registry.for_method("alipay")
    assert len(world.aws.reads) == reads + 1


def test_secrets_manager_failing_before_any_read_answers_unavailable(world):
    world.aws.failing = True
    with pytest.raises(SecretUnavailable) as raised:
        world.registry().for_method("alipay")
    assert raised.value.code == "unavailable"
