"""Asynchronous work of bills and payments: billing-run chunks, receipts, and the payment-expiry sweep."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.bills import BILLING_RUN_JOB
from chalicelib.domain.payments import PAYMENT_RECEIPT_JOB
from chalicelib.events.jobs import job
from chalicelib.events.schedules import scheduled
from chalicelib.observability import logger


@job(BILLING_RUN_JOB)
def billing_run(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    outcome = deps.billing().work_run(payload["run_id"], int(payload["attempt"]), payload.get("cursor") or "")
    logger.info("billing run chunk", extra={"run_id": payload["run_id"], "outcome": outcome})
    if outcome == "busy":
        # Another worker holds the chunk; raising lets SQS redeliver later in case that worker dies.
        raise RuntimeError("billing run chunk is leased by another worker")


@job(PAYMENT_RECEIPT_JOB)
def payment_receipt(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    deps.receipts().make(payload["payment_id"])


@scheduled("payment-expiry", "rate(5 minutes)", "Expire pending payments older than 15 minutes")
def payment_expiry() -> dict[str, Any]:
    from chalicelib import deps

    return deps.payments().sweep_expired()
