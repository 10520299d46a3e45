"""The nightly door-access sweep: lapsed grants are revoked and their events published (API.md §5)."""

from __future__ import annotations

from typing import Any


# Scheduled at 16:05 UTC = 00:05 Asia/Shanghai (routes.SCHEDULES): the first minutes after a grant's last valid day.
def expire_door_access() -> dict[str, Any]:
    """Revoke door access whose end date has passed; publish events still pending from earlier failures."""
    from chalicelib import deps

    return deps.household().sweep()
