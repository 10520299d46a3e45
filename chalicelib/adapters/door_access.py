"""Door-access events to the SNS topic the door system subscribes to (one JSON event per message)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.domain.household import DoorEvent
from chalicelib.observability import logger


class SnsDoorAccess:
    """Publishes `DoorEvent`s; the topic ARN is resolved once per container, on first use."""

    def __init__(self, sns: Any, topic_arn: Callable[[], str]):
        self._sns = sns
        self._topic_arn = topic_arn
        self._arn: str | None = None

    def publish(self, event: DoorEvent) -> None:
        if self._arn is None:
            self._arn = self._topic_arn()
        answer = self._sns.publish(
            TopicArn=self._arn, Message=json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":")),
            # Lets a subscriber filter (e.g. only revocations) without parsing the body.
            MessageAttributes={"action": {"DataType": "String", "StringValue": event.action},
                               "community_id": {"DataType": "String", "StringValue": event.community_id}})
        logger.info("door access event published", extra={"action": event.action, "member_id": event.member_id,
                                                           "event_id": event.event_id,
                                                           "sns_message_id": answer["MessageId"]})
