"""Opaque, non-sequential identifiers and the clock."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    """`u_3f9c...`: a prefix that tells the kind, then 80 random bits (never sequential)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """RFC 3339 UTC with second precision, as API.md §1 writes times."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
