"""The jobs queue: one SQS consumer that routes each message to the handler its `kind` names in `routes.JOBS`.

Producers enqueue with `deps.jobs().send(kind, payload)`, using a kind constant from `chalicelib.names`; the
handler (`<module>.<function>` under `chalicelib.events`) takes the payload dict and must be idempotent (SQS
delivers at least once). Its module is imported on the first message of that kind, so the consumer's cold start
imports no area code. A failing message is reported alone (partial batch response), so the rest of the batch is
not redelivered; after the queue's `maxReceiveCount` it lands in the dead-letter queue.

A long job works in bounded steps and enqueues its own continuation when its time is spent. Two views of the
same invocation time: `budget()` (a `domain.jobs.Budget`: half the remaining time, capped, with the longest step
so far taken into account; the fee reminders and the notice fan-out) and `seconds_left()` (the remaining time less
a safety margin; billing runs, chunk by chunk).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.jobs import Budget

JobHandler = Callable[[dict[str, Any]], None]
_context: ContextVar[Any] = ContextVar("lambda_context", default=None)

# The consumer's Lambda timeout (`.chalice/config.json` `lambda_timeout`; a unit test keeps them equal).
FUNCTION_TIMEOUT_SECONDS = 30
# What a job leaves unused of the invocation's remaining time: work that resumes by cursor stops this early.
SAFETY_SECONDS = 10
# Without a Lambda context (tests, the CLI) an invocation is assumed to have a third of the timeout.
FALLBACK_BUDGET_SECONDS = FUNCTION_TIMEOUT_SECONDS / 3

_deadline: ContextVar[Callable[[], float] | None] = ContextVar("job_deadline", default=None)


def budget() -> Budget:
    """The budget of the job starting now: from the running invocation's Lambda context, if any."""
    from chalicelib.domain.jobs import Budget

    return Budget.for_invocation(_context.get())


def seconds_left() -> float:
    """What the current invocation may still spend on the running job (0 when its budget is used up).

    Jobs that page through a lot of work (a billing run) work while this allows, then re-enqueue themselves.
    """
    remaining = _deadline.get()
    return max(0.0, remaining()) if remaining is not None else FALLBACK_BUDGET_SECONDS


def _budget(context: Any) -> Callable[[], float]:
    """The invocation's remaining time less the safety margin: from the Lambda context when there is one."""
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    deadline = time.monotonic() + FALLBACK_BUDGET_SECONDS
    return lambda: deadline - time.monotonic()


def handler(kind: str) -> JobHandler:
    """The function that runs jobs of `kind` (its module imported now if it was not yet)."""
    from chalicelib.routes import EVENTS, JOBS

    try:
        module, function = JOBS[kind].rsplit(".", 1)
    except KeyError:
        raise ValueError(f"no handler for job kind {kind!r}") from None
    return getattr(importlib.import_module(EVENTS + module), function)


def run(kind: str, payload: dict[str, Any], budget: Callable[[], float] | None = None) -> None:
    """Run one job; `budget` is the invocation's `seconds_left` (default: a conservative one from now)."""
    token = _deadline.set(budget or _budget(None))
    try:
        handler(kind)(payload)
    finally:
        _deadline.reset(token)


def dispatch(records: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Run each SQS record's job; return the ids of the failed ones (SQS partial batch response).

    Every job of the batch shares the invocation's time, taken from the Lambda context that Chalice hands each
    record.
    """
    from chalicelib.events import batch

    context = getattr(records[0], "context", None) if records else None
    remaining = _budget(context)

    def one(body: str, message_id: str) -> None:
        message = json.loads(body)
        run(message["kind"], message["payload"], remaining)

    token = _context.set(context)
    try:
        return batch.process(records, one, "job failed")
    finally:
        _context.reset(token)
