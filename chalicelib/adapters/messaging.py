"""SMS through SNS and jobs through SQS: the two ways the app hands work to AWS messaging."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.errors import DomainError
from chalicelib.observability import count, logger, mask_phone


class SmsNotAllowed(DomainError):
    code = "sms_not_allowed"
    message = "Text messages cannot be sent to this number."


class SnsSms:
    """Transactional SMS via SNS `Publish` to a phone number; only allow-listed country codes are ever sent to."""

    def __init__(self, sns: Any, allowed_country_codes: Iterable[str], sender_id: str | None = None):
        self._sns = sns
        self._allowed = tuple(allowed_country_codes)
        self._sender_id = sender_id

    def allowed(self, phone: str) -> bool:
        return any(phone.startswith(code) for code in self._allowed)

    def send(self, phone: str, text: str) -> str:
        """Send `text` to `phone`; returns the SNS message id. Never logs the number or the text."""
        if not self.allowed(phone):
            raise SmsNotAllowed()
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        answer = self._sns.publish(PhoneNumber=phone, Message=text, MessageAttributes=attributes)
        count("SmsSent")
        logger.info("sms sent", extra={"to": mask_phone(phone), "sns_message_id": answer["MessageId"]})
        return answer["MessageId"]


class SqsQueue:
    """A queue resolved by name once, and `send_batches` (SendMessageBatch of 10, failed entries retried)."""

    BATCH = 10  # SQS SendMessageBatch limit

    def __init__(self, sqs: Any, queue_name: str):
        self._sqs = sqs
        self._queue_name = queue_name
        self._url: str | None = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send_batches(self, messages: list[tuple[str, int]]) -> int:
        """Queue `(body, delay_seconds)` messages in order; returns the number of SendMessageBatch calls."""
        calls = 0
        for start in range(0, len(messages), self.BATCH):
            entries = [{"Id": str(i), "MessageBody": body, **({"DelaySeconds": delay} if delay else {})}
                       for i, (body, delay) in enumerate(messages[start:start + self.BATCH])]
            for _ in range(3):
                calls += 1
                answer = self._sqs.send_message_batch(QueueUrl=self._queue_url(), Entries=entries)
                failed = {f["Id"] for f in answer.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"{len(entries)} messages could not be enqueued")
        return calls


class SqsJobs(SqsQueue):
    """Enqueue jobs on a queue as JSON `{"kind": ..., "payload": {...}}` (the jobs dispatcher routes by kind)."""

    def send(self, kind: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url(), DelaySeconds=delay_seconds,
                               MessageBody=_job_body(kind, payload))

    def send_many(self, kind: str, payloads: list[dict[str, Any]]) -> int:
        """Enqueue in batches of 10; returns the number of SendMessageBatch calls made."""
        return self.send_batches([(_job_body(kind, p), 0) for p in payloads])


def _job_body(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"kind": kind, "payload": payload}, ensure_ascii=False, separators=(",", ":"))
