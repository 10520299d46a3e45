"""Asynchronous work of bills and payments: billing-run chunks, receipts, refund texts, and the payment
reconciliation (pending payments near expiry and open refunds asked of their providers)."""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger


def billing_run(payload: dict[str, Any]) -> None:
    """Work the run's chunks while the invocation has time; the service re-enqueues the rest by cursor."""
    from chalicelib import deps
    from chalicelib.domain.bills import FIRST_CHUNK_SECONDS
    from chalicelib.events import jobs

    outcome = deps.billing().work_run(payload["run_id"], int(payload["attempt"]), payload.get("cursor") or "",
                                      budget=jobs.budget(expect=FIRST_CHUNK_SECONDS))
    logger.info("billing run chunk", extra={"run_id": payload["run_id"], "outcome": outcome})
    if outcome == "busy":
        # Another worker holds the chunk; raising lets SQS redeliver later in case that worker dies.
        raise RuntimeError("billing run chunk is leased by another worker")


def payment_receipt(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    deps.receipts().make(payload["payment_id"])


def payment_reconciliation() -> dict[str, Any]:
    """Payments first (their holds lapse), then refunds, within one invocation's budget; the next run goes on."""
    from chalicelib import deps
    from chalicelib.events import jobs

    budget = jobs.budget()
    summary = {"payments": deps.payments().reconcile(budget), "refunds": deps.refunds().reconcile(budget)}
    logger.info("payment reconciliation", extra=summary)
    return summary


def send_refund_sms(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    sent = deps.refund_notifier().notify(payload["refund_id"])
    logger.info("refund sms job done", extra={"refund_id": payload["refund_id"], "sent": sent})
