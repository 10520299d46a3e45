"""One way to consume an SQS batch: each record handled alone, failures reported as a partial batch response.

Powertools' batch processor does the bookkeeping; a record whose handler raises is logged and reported in
`batchItemFailures`, so only it is redelivered (and, after the queue's `maxReceiveCount`, dead-lettered).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.observability import logger

RecordHandler = Callable[[str, str], None]  # (message body, message id)


def process(records: list[Any], handle: RecordHandler, failure: str) -> dict[str, list[dict[str, str]]]:
    """Run `handle` on every Chalice SQS record; answer `{"batchItemFailures": [...]}` (never raises for them).

    `failure` is the constant log message of a failed record.
    """
    # Imported here: the consumers' cold path pays for Powertools' batch module only when a batch arrives.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def one(record: Any) -> None:
        try:
            handle(record.body, record.message_id)
        except Exception:
            logger.exception(failure, extra={"message_id": record.message_id})
            raise

    # A batch that fails whole is still an answer listing every record, as a batch with one failure is.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    event = {"Records": [record.to_dict() for record in records]}
    return process_partial_response(event, one, processor)  # type: ignore[return-value]
