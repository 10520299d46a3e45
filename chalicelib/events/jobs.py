"""The jobs queue: one SQS consumer that routes each message to the handler its `kind` names in `routes.JOBS`.

Producers enqueue with `deps.jobs().send(kind, payload)`, using a kind constant from `chalicelib.names`; the
handler (`<module>.<function>` under `chalicelib.events`) takes the payload dict and must be idempotent (SQS
delivers at least once). Its module is imported on the first message of that kind, so the consumer's cold start
imports no area code. A failing message is reported alone (partial batch response), so the rest of the batch is
not redelivered; after the queue's `maxReceiveCount` it lands in the dead-letter queue.

A long job (a billing run, the fee reminders, a notice's SMS fan-out) works in bounded steps: `budget()` is the
allowance of the job now running, taken from the Lambda context of the batch (half its remaining time, capped; see
`domain.jobs.Budget`), and the job enqueues its own continuation when it is spent.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.jobs import Budget

JobHandler = Callable[[dict[str, Any]], None]
_context: ContextVar[Any] = ContextVar("lambda_context", default=None)


def budget(expect: float = 0.0) -> Budget:
    """The budget of the job starting now: from the running invocation's Lambda context, if any. `expect`: what
    one of its steps is assumed to take before one has been timed."""
    from chalicelib.domain.jobs import Budget

    return Budget.for_invocation(_context.get(), expect=expect)


def handler(kind: str) -> JobHandler:
    """The function that runs jobs of `kind` (its module imported now if it was not yet)."""
    from chalicelib.routes import EVENTS, JOBS

    try:
        module, function = JOBS[kind].rsplit(".", 1)
    except KeyError:
        raise ValueError(f"no handler for job kind {kind!r}") from None
    return getattr(importlib.import_module(EVENTS + module), function)


def run(kind: str, payload: dict[str, Any]) -> None:
    handler(kind)(payload)


def dispatch(records: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Run each SQS record's job; return the ids of the failed ones (SQS partial batch response).

    Every job of the batch shares the invocation's time, taken from the Lambda context that Chalice hands each
    record.
    """
    from chalicelib.events import batch

    context = getattr(records[0], "context", None) if records else None

    def one(body: str, message_id: str) -> None:
        message = json.loads(body)
        run(message["kind"], message["payload"])

    token = _context.set(context)
    try:
        return batch.process(records, one, "job failed")
    finally:
        _context.reset(token)
