"""Which provider serves which method in a stage, configured from one Secrets Manager secret per provider.

Each configurable provider (`CONFIGURABLE`: a module under adapters/payments/) has one secret per stage,
`<RESOURCE_PREFIX>-payments-<provider>` (`names.PAYMENT_PROVIDER_SECRETS`), whose content is a JSON object: the
provider's config, its fields documented in the module's docstring. The module's
`from_config(config, *, notify_url, transport)` builds the provider, raising `ProviderConfigError` (naming the
field, never its value) for a config it cannot use. A card acquirer is one more module, one more entry in
`CONFIGURABLE` and one more secret name.

What a secret holds decides what its method does:
- nothing (no secret, a secret without value as infra/ creates it, an empty string or `{}`): the method is not
  configured, 400 `method_unavailable`; in `local` and `test` the sandbox stands in for it instead;
- a config its provider refuses (not JSON, not an object, a field missing or malformed): 503
  `provider_misconfigured` for orders and notices alike (a provider retries its notices later), and one ERROR
  log per config read, naming the provider and the problem, never a value;
- a complete config: the provider, built once per config read.

Secrets are read on first use, not at cold start, and kept 10 minutes (adapters/secrets.py). A notice whose
signature does not verify has the secret re-read early (at most once a minute) and is checked once more when the
config changed: a rotated platform key or certificate takes effect without a deploy.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.payments.common import InvalidSignature, ProviderConfigError
from chalicelib.domain.payments import MethodUnavailable
from chalicelib.errors import Unavailable
from chalicelib.observability import logger

# Provider name (the callback route's {provider} and the payment method it serves) → its module.
CONFIGURABLE: dict[str, str] = {
    "alipay": "chalicelib.adapters.payments.alipay",
    "wechat": "chalicelib.adapters.payments.wechat",
}
PROVIDER_NAMES: tuple[str, ...] = ("sandbox", *CONFIGURABLE)  # the callback route's {provider}

# `from_config(config, *, notify_url=..., transport=...)` of a provider module.
Factory = Callable[..., Any]


class ProviderMisconfigured(Unavailable):
    code = "provider_misconfigured"
    message = "This payment method is temporarily unavailable: its provider is not configured correctly."


@dataclass(frozen=True)
class Built:
    """The outcome of one config: a provider, nothing configured (both None), or the problem that stops it."""

    provider: Any | None = None
    problem: str | None = None


def module_factory(name: str) -> Factory:
    """The `from_config` of provider `name`'s module, imported only when a config is built (most requests never
    need it)."""

    def from_config(config: dict[str, str], **kwargs: Any) -> Any:
        return importlib.import_module(CONFIGURABLE[name]).from_config(config, **kwargs)

    return from_config


def build_from_text(text: str | None, factory: Factory, *, notify_url: str, transport: Any | None = None) -> Built:
    """Build a provider from its secret's content; the problem names a field, never a value."""
    if text is None or not text.strip():
        return Built()
    try:
        config = json.loads(text)
    except ValueError:
        return Built(problem="the secret is not valid JSON")
    if not isinstance(config, dict):
        return Built(problem="the secret is not a JSON object")
    if not config:
        return Built()
    try:
        return Built(provider=factory(config, notify_url=notify_url, transport=transport))
    except ProviderConfigError as error:
        return Built(problem=str(error) or "the config is incomplete")
    except Exception as error:  # noqa: BLE001 - any failure to build is a configuration problem, never a 500
        # Only the exception's type: its message could quote a value from the secret.
        return Built(problem=f"the provider refused its config ({type(error).__name__})")


class ProviderSource:
    """One configurable provider: its secret (`value() -> str | None`, `reread_soon() -> bool`, as
    `adapters.secrets.CachedSecret`) and the provider built from the secret's current content."""

    def __init__(self, name: str, secret: Any, factory: Factory, *, notify_url: str, transport: Any | None = None):
        self.name = name
        self._secret = secret
        self._factory = factory
        self._notify_url = notify_url
        self._transport = transport
        self._lock = threading.Lock()
        self._text: str | None = None
        self._built: Built | None = None

    def current(self) -> Any | None:
        """The provider (wrapped to re-read its secret on a signature failure), None when not configured;
        raises `ProviderMisconfigured` when its config is unusable."""
        built = self._build()
        if built.problem is not None:
            raise ProviderMisconfigured(details={"provider": self.name})
        return None if built.provider is None else _Configured(self, built.provider)

    def status(self) -> Built:
        """The outcome of the current config (for the deploy-time check)."""
        return self._build()

    def after_signature_failure(self, used: Any) -> Any | None:
        """Re-read the secret if allowed now; the newly built provider when the config changed, else None."""
        if not self._secret.reread_soon():
            return None
        built = self._build()
        return built.provider if built.provider is not None and built.provider is not used else None

    def _build(self) -> Built:
        text = self._secret.value()
        with self._lock:
            if self._built is None or text != self._text:
                built = build_from_text(text, self._factory, notify_url=self._notify_url,
                                        transport=self._transport)
                if built.problem is not None:
                    # Once per config read, not per request: a bad secret must not flood the logs.
                    logger.error("payment provider misconfigured", extra={"provider": self.name,
                                                                          "problem": built.problem})
                self._text, self._built = text, built
            return self._built


class _Configured:
    """A provider as the registry hands it out. A notice (or an answer) whose signature does not verify has the
    provider's secret re-read, at most once a minute, and is checked once more if the config changed."""

    _RETRIED = ("parse", "query", "query_refund")

    def __init__(self, source: ProviderSource, provider: Any):
        self._source = source
        self._provider = provider

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._provider, attribute)
        if attribute not in self._RETRIED:
            return value

        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except InvalidSignature:
                fresh = self._source.after_signature_failure(self._provider)
                if fresh is None:
                    raise
                logger.info("payment provider config re-read", extra={"provider": self._source.name})
                return getattr(fresh, attribute)(*args, **kwargs)

        return checked


class Providers:
    """Which provider serves which method in this stage.

    `by_name` maps a provider name to the provider itself or to a `ProviderSource` that builds it from its secret
    on use. With `sandbox_for_all` (local and test) the sandbox, when present, serves every method whose provider
    is not configured.
    """

    def __init__(self, by_name: Mapping[str, Any], sandbox_for_all: bool):
        self._by_name = dict(by_name)
        self._sandbox_for_all = sandbox_for_all

    def _resolve(self, name: str) -> Any | None:
        entry = self._by_name.get(name)
        return entry.current() if isinstance(entry, ProviderSource) else entry

    def for_method(self, method: str) -> Any:
        """The provider serving `method`: 400 `method_unavailable` if none, 503 `provider_misconfigured`."""
        provider = self._resolve(method)
        if provider is None and self._sandbox_for_all:
            provider = self._by_name.get("sandbox")
        if provider is None:
            raise MethodUnavailable(details={"method": method})
        return provider

    def for_callback(self, name: str) -> Any | None:
        """The provider whose notices arrive at `/payments/callbacks/{name}`, None if this stage has none."""
        return self._resolve(name)

    def sources(self) -> list[ProviderSource]:
        return [entry for entry in self._by_name.values() if isinstance(entry, ProviderSource)]


def build_providers(settings: Any, secret: Callable[[str], Any], *,
                    factories: Mapping[str, Factory] | None = None, transport: Any | None = None) -> Providers:
    """The stage's registry: the sandbox in local/test, and a `ProviderSource` per configurable provider reading
    the secret `secret(secret_id)` returns (a `CachedSecret`). `factories` replaces modules' `from_config` (tests);
    `transport` None lets each provider use the real HTTPS transport."""
    from chalicelib.names import PAYMENT_PROVIDER_SECRETS

    by_name: dict[str, Any] = {}
    if settings.is_test_stage and settings.sandbox_payment_secret:
        from chalicelib.adapters.payments.sandbox import SandboxProvider

        by_name["sandbox"] = SandboxProvider(settings.sandbox_payment_secret)
    for name in CONFIGURABLE:
        factory = (factories or {}).get(name) or module_factory(name)
        by_name[name] = ProviderSource(name, secret(settings.name(PAYMENT_PROVIDER_SECRETS[name])), factory,
                                       notify_url=settings.notify_url(name), transport=transport)
    return Providers(by_name, settings.is_test_stage)

