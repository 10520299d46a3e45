"""The per-recipient queue of urgent-notice SMS: one message per owner, SendMessageBatch of 10, per-entry delays."""

from __future__ import annotations

import json

from chalicelib.adapters.messaging import SqsQueue
from chalicelib.domain.notice_sms import SmsMessage


class SqsSmsQueue(SqsQueue):
    def send(self, messages: list[SmsMessage]) -> int:
        """Queue every message with its delay; returns the SendMessageBatch calls made."""
        return self.send_batches([(json.dumps(m.payload(), ensure_ascii=False, separators=(",", ":")),
                                   m.delay_seconds) for m in messages])
