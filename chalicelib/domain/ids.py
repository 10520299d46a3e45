"""Opaque, non-sequential identifiers and the clock."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    """`u_0193f...`: a prefix that tells the kind, the creation time in milliseconds, then 64 random bits.

    Never sequential (nobody can guess a neighbour's id), yet ids made later sort later, so sort keys written
    as `<time>#<id>` keep creation order even within one second.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """RFC 3339 UTC with second precision, as API.md §1 writes times."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
