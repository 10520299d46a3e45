"""Shared PynamoDB plumbing: per-stage table names, common attributes and error translation."""

from __future__ import annotations

import os
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import NUMBER
from pynamodb.models import Model

from chalicelib.settings import resource_name


def table_meta(logical: str) -> type:
    """A PynamoDB `Meta` for the table `logical` of the current stage (on-demand capacity)."""

    class Meta:
        table_name = resource_name(logical)
        region = os.environ["AWS_DEFAULT_REGION"]
        billing_mode = "PAY_PER_REQUEST"
        # Lambda reuses connections; keep retries bounded so a slow table fails fast.
        max_retry_attempts = 3
        connect_timeout_seconds = 2
        read_timeout_seconds = 5

    Meta.logical_name = logical  # type: ignore[attr-defined]
    return Meta


class IntAttribute(Attribute[int]):
    """An integer Number that never round-trips through float."""

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return str(int(value))

    def deserialize(self, value: str) -> int:
        return int(value)


def is_conditional_failure(error: Exception) -> bool:
    """True when a write failed on its own condition (a transaction counts only if a condition cancelled it)."""
    code = getattr(error, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons: list[Any] = getattr(error, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


__all__ = ["IntAttribute", "Model", "is_conditional_failure", "table_meta"]
