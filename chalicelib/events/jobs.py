"""The jobs queue: one SQS consumer that routes each message to the handler registered for its `kind`.

Areas register work with `@job("kind")` and enqueue with `deps.jobs().send("kind", payload)`; a handler must
be idempotent (SQS delivers at least once). The route manifest (`chalicelib/manifest/manifest.json`) names the module
registering each kind: `run()` imports it on the first message of that kind, so the consumer's cold start
imports no area code. A failing message is reported alone (partial batch response), so
the rest of the batch is not redelivered; after the queue's `maxReceiveCount` it lands in the dead-letter queue.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

JobHandler = Callable[[dict[str, Any]], None]
_HANDLERS: dict[str, JobHandler] = {}


def job(kind: str) -> Callable[[JobHandler], JobHandler]:
    def register(fn: JobHandler) -> JobHandler:
        if kind in _HANDLERS:
            raise ValueError(f"job kind {kind!r} registered twice")
        _HANDLERS[kind] = fn
        return fn

    return register


def handlers() -> dict[str, JobHandler]:
    return dict(_HANDLERS)


def _handler(kind: str) -> JobHandler:
    if kind not in _HANDLERS:
        from chalicelib.routes import EVENTS, JOBS

        handler = JOBS.get(kind)
        if handler is not None:
            importlib.import_module(EVENTS + handler.rsplit(".", 1)[0])
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise ValueError(f"no handler for job kind {kind!r}") from None


def run(kind: str, payload: dict[str, Any]) -> None:
    _handler(kind)(payload)


def dispatch(records: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Run each SQS record's job; return the ids of the failed ones (SQS partial batch response)."""
    from chalicelib.events import batch

    def one(body: str, message_id: str) -> None:
        message = json.loads(body)
        run(message["kind"], message["payload"])

    return batch.process(records, one, "job failed")
