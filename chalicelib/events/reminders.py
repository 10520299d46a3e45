"""Fee reminders: the daily job (10:00 Asia/Shanghai) and the paced SMS consumer it feeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fee_reminders(dry_run: bool = False,
                  progress: Callable[[int, int | None, str], None] | None = None) -> dict[str, Any]:
    from chalicelib import deps

    return deps.fee_reminders().run(dry_run=dry_run, progress=progress).as_dict()


def monthly_billing(dry_run: bool = False,
                    progress: Callable[[int, int | None, str], None] | None = None) -> dict[str, Any]:
    from chalicelib import deps
    from chalicelib.domain.ids import utcnow
    from chalicelib.domain.model import Principal
    from chalicelib.domain.reminders import previous_period
    from chalicelib.errors import DomainError

    period = previous_period(utcnow())
    system = Principal.system("scheduled-job")
    community_ids = deps.communities().all_community_ids()
    started, skipped = 0, {}
    for done, community_id in enumerate(community_ids, start=1):
        if not dry_run:
            try:
                deps.billing().start_run(system, community_id, period)
                started += 1
            except DomainError as refused:  # e.g. no fee schedule yet: the others still run
                skipped[community_id] = refused.code
        if progress:
            progress(done, len(community_ids), "starting billing runs")
    return {"period": period, "communities": len(community_ids), "started": started, "skipped": skipped,
            "dry_run": dry_run}


def send_fee_reminder(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    deps.reminder_sender().send(payload)
