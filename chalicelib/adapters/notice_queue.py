"""The per-recipient queue of urgent-notice SMS: one message per owner, SendMessageBatch of 10, per-entry delays."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.notice_sms import SmsMessage


class SqsSmsQueue:
    BATCH = 10  # SQS SendMessageBatch limit

    def __init__(self, sqs: Any, queue_name: str):
        self._sqs = sqs
        self._queue_name = queue_name
        self._url: str | None = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send(self, messages: list[SmsMessage]) -> int:
        """Queue every message (batches of 10, failed entries retried twice); returns SendMessageBatch calls."""
        calls = 0
        for start in range(0, len(messages), self.BATCH):
            entries = [{"Id": str(i), "DelaySeconds": m.delay_seconds,
                        "MessageBody": json.dumps(m.payload(), ensure_ascii=False, separators=(",", ":"))}
                       for i, m in enumerate(messages[start:start + self.BATCH])]
            for _ in range(3):
                calls += 1
                answer = self._sqs.send_message_batch(QueueUrl=self._queue_url(), Entries=entries)
                failed = {f["Id"] for f in answer.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"{len(entries)} SMS messages could not be queued")
        return calls
