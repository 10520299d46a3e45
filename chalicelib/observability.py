"""Logger, metrics and the redaction that keeps secrets and personal data out of every log line."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# Distinct from the Chalice app name: Chalice sets its own logger (named after the app) to ERROR.
SERVICE = "owner_portal"
NAMESPACE = "OwnerPortal"

REDACTED = "[REDACTED]"
# Keys whose values are never logged, whatever they hold (matched as substrings, case-insensitive).
_SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "code",
    "captcha_answer",
    "otp",
    "cookie",
    "signature",
    "phone",
)
# Keys that contain a sensitive part but hold nothing secret.
_SAFE_KEYS = frozenset({"status_code", "error_code", "code_kind", "country_code"})
# E.164 numbers and bare mainland mobiles, not digit runs inside ids (UUIDs, hex) or timestamps.
_PHONE = re.compile(r"(?<![\w-])(?:\+\d{7,15}|1[3-9]\d{9})(?![\w-])")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)bearer\s+\S+")


def mask_phone(phone: str) -> str:
    """`+8613800138000` → `+86 138****8000` (the API's display form)."""
    digits = phone.lstrip("+")
    if phone.startswith("+86") and len(digits) == 13:
        national = digits[2:]
        return f"+86 {national[:3]}****{national[-4:]}"
    if len(digits) >= 7:
        return f"+{digits[:len(digits) - 8]} ****{digits[-4:]}" if len(digits) > 8 else f"****{digits[-4:]}"
    return "****"


def _scrub_text(text: str) -> str:
    text = _BEARER.sub("Bearer " + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _PHONE.sub(lambda m: "****" + m.group()[-4:], text)


def redact(value: Any, key: str | None = None) -> Any:
    """Return `value` with sensitive keys blanked and phone numbers or tokens in text masked."""
    if key is not None:
        lowered = key.lower()
        if lowered not in _SAFE_KEYS and any(part in lowered for part in _SENSITIVE_KEY_PARTS):
            return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every record passed through `redact` before it is written."""

    def serialize(self, log: dict[str, Any]) -> str:
        safe = {k: (v if k in ("level", "location", "timestamp", "service", "sampling_rate") else redact(v, k))
                for k, v in log.items()}
        return super().serialize(safe)


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add a business counter (flushed as EMF at the end of the invocation)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush_metrics() -> None:
    """Publish the counters of this invocation, if any (an empty flush would only warn)."""
    if metrics.metric_set:
        metrics.flush_metrics(raise_on_empty_metrics=False)
