"""Non-HTTP work of repairs: the photo-upload consumer (S3 → SQS) and the `repair-sms` job.

S3 notifications reach us through SQS (Chalice cannot package `on_s3_event` for CloudFormation/CDK); each
SQS message holds one S3 event with one or more records. A message whose processing raises is reported as a
batch item failure: SQS redelivers it and, after the queue's `maxReceiveCount`, moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.observability import logger


def object_keys(body: str) -> list[str]:
    """The object keys an S3 event (as delivered in an SQS message body) is about, URL-decoded.

    S3 URL-encodes keys in events (`uploads%2Fa+b.jpg`); a configuration test event has no records.
    """
    event = json.loads(body)
    if event.get("Event") == "s3:TestEvent":
        return []
    keys = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        keys.append(unquote_plus(record["s3"]["object"]["key"]))
    return keys


def handle_photo_uploads(records: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Process every uploaded photo named by the SQS records; answer an SQS partial batch response."""
    from chalicelib import deps
    from chalicelib.events import batch

    processor = deps.photo_processor()

    def one(body: str, message_id: str) -> None:
        for key in object_keys(body):
            outcome = processor.process(key)
            logger.info("photo upload handled", extra={"outcome": outcome, "message_id": message_id})

    return batch.process(records, one, "photo upload failed")


def send_repair_sms(payload: dict[str, Any]) -> None:
    from chalicelib import deps

    sent = deps.repair_notifier().notify(payload["repair_id"], payload["event"])
    logger.info("repair sms job done", extra={"repair_id": payload["repair_id"], "event": payload["event"],
                                              "sent": sent})
