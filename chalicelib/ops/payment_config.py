"""Deploy-time check of the payment providers' secrets (`python -m chalicelib.cli check-payment-config`).

It reads each provider's secret and builds the provider exactly as the app will (no order is created, no
provider is called), and says for each one: `missing` (no such secret: infra/ not deployed), `not configured`
(the secret has no value: the method answers 400 `method_unavailable`), `ok`, or `misconfigured` with the
problem (the method would answer 503 `provider_misconfigured`). It never prints a value from a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OK, NOT_CONFIGURED, MISCONFIGURED, MISSING = "ok", "not configured", "misconfigured", "missing"


@dataclass(frozen=True)
class ConfigCheck:
    provider: str
    secret_name: str
    state: str
    problem: str | None = None

    def passes(self, required: bool) -> bool:
        return self.state == OK or (self.state == NOT_CONFIGURED and not required)


def check_payment_config() -> list[ConfigCheck]:
    """The state of every configurable provider's secret in the current stage."""
    from chalicelib import deps
    from chalicelib.adapters.payments.registry import CONFIGURABLE, build_from_text, module_factory
    from chalicelib.adapters.secrets import read_secret_string
    from chalicelib.names import PAYMENT_PROVIDER_SECRETS

    settings = deps.get_settings()
    client = deps.aws_client("secretsmanager")
    checks = []
    for name in CONFIGURABLE:
        secret_name = settings.name(PAYMENT_PROVIDER_SECRETS[name])
        try:
            client.describe_secret(SecretId=secret_name)
        except client.exceptions.ResourceNotFoundException:
            checks.append(ConfigCheck(name, secret_name, MISSING, "no such secret: deploy infra/ first"))
            continue
        built = build_from_text(read_secret_string(client, secret_name), module_factory(name),
                                notify_url=settings.notify_url(name))
        state = MISCONFIGURED if built.problem else OK if built.provider is not None else NOT_CONFIGURED
        checks.append(ConfigCheck(name, secret_name, state, built.problem))
    return checks


def all_pass(checks: Iterable[ConfigCheck], required: Iterable[str] = ()) -> bool:
    """No secret missing or misconfigured, and every `required` provider configured."""
    must = set(required)
    return all(check.passes(check.provider in must) for check in checks)
