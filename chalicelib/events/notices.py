"""Urgent-notice SMS: the fan-out job (jobs queue) and the per-owner delivery consumer (notice-sms queue)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import deps
from chalicelib.observability import count, logger


def fan_out_notice_sms(payload: dict[str, Any]) -> None:
    """Page the notice's audience and queue one SMS per owner, within this invocation's budget; the rest is a
    continuation naming the next step (safe to run twice: steps are recorded and delivery is deduplicated)."""
    from chalicelib.events.jobs import budget

    step = payload.get("step")
    result = deps.notice_sms().fan_out(payload["notice_id"], None if step is None else int(step), budget())
    count("NoticeSmsQueued", result.queued)
    logger.info("notice sms fan-out", extra={"notice_id": payload["notice_id"], "status": result.status,
                                             "queued": result.queued, "skipped_opt_out": result.skipped_opt_out,
                                             "pages": result.pages, "step": result.step,
                                             "continue_in": result.continue_in})


def deliver(records: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Text each queued owner once; failed records are reported alone (SQS partial batch response)."""
    from chalicelib.events import batch

    service = deps.notice_sms()
    notices: dict[str, Any] = {}

    def one(body: str, message_id: str) -> None:
        outcome = service.deliver(json.loads(body), notices)
        count("NoticeSms" + outcome.title().replace("_", ""))

    return batch.process(records, one, "notice sms failed")
