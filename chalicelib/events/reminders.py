"""Fee reminders: the daily job (10:00 Asia/Shanghai), its continuations on the jobs queue, and the paced SMS
consumer it feeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fee_reminders(dry_run: bool = False,
                  progress: Callable[[int, int | None, str], None] | None = None) -> dict[str, Any]:
    """Start today's run: as many pages as one invocation's budget allows, then a continuation."""
    from chalicelib import deps
    from chalicelib.events.jobs import budget
    from chalicelib.observability import logger

    summary = deps.fee_reminders().run(dry_run=dry_run, progress=progress, budget=budget(), jobs=deps.jobs())
    logger.info("fee reminders", extra=_log_fields(summary.as_dict()))
    return summary.as_dict()


def continue_fee_reminders(payload: dict[str, Any]) -> None:
    """The next steps of a day's run (a stale or duplicated continuation does nothing)."""
    from chalicelib import deps
    from chalicelib.events.jobs import budget
    from chalicelib.observability import logger

    summary = deps.fee_reminders().resume(payload["day"], int(payload["step"]), budget=budget(), jobs=deps.jobs())
    logger.info("fee reminders", extra=_log_fields(summary.as_dict()))


def _log_fields(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("day", "status", "step", "pages", "bills", "owners", "enqueued", "resumed", "seen_earlier")
    return {key: summary[key] for key in keys}


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
