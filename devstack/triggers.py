"""Local stand-ins for AWS event triggers.

- An SQS poller per `on_sqs_message` handler the app registers: it receives from the handler's queue and
  calls the handler with a Lambda-shaped SQS event, deleting what succeeded (a returned
  `batchItemFailures` list is honoured; an exception leaves the batch for redelivery and, after the queue's
  `maxReceiveCount`, the dead-letter queue). Later areas only register handlers; nothing here changes.

The SMS echo lives in `devstack.sms`, DynamoDB's TTL deletion in `devstack.sweeper`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeLambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def deliver(app: Any, config: Any, sqs: Any, queue_url: str, queue_arn: str, region: str, wait: int = 1) -> int:
    """Receive one batch for `config`'s handler and run it; return how many messages were handled."""
    answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(config.batch_size, 10),
                                 WaitTimeSeconds=wait, AttributeNames=["All"], MessageAttributeNames=["All"])
    messages = answer.get("Messages", [])
    if not messages:
        return 0
    handler = app.handler_map[config.name]
    context = FakeLambdaContext(config.name, str(uuid.uuid4()), deadline=time.monotonic() + 900)
    try:
        result = handler(sqs_event(messages, queue_arn, region), context)
    except Exception as error:  # the handler failed: like Lambda, leave the batch to be retried
        print(f"[sqs] handler {config.name} failed ({type(error).__name__}); the batch will be retried", flush=True)
        return 0
    failures = result.get("batchItemFailures", []) if isinstance(result, dict) else []
    failed = {f["itemIdentifier"] for f in failures}
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
    return len(done)


def _poll(stop: threading.Event, app: Any, config: Any) -> None:
    from chalicelib import deps
    from chalicelib.settings import get_settings

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=config.queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while not stop.is_set():
        try:
            deliver(app, config, sqs, url, arn, get_settings().region)
        except Exception as error:  # keep the stand-in alive across emulator hiccups
            print(f"[sqs] poll of {config.queue} failed: {type(error).__name__}", flush=True)
            stop.wait(1)


def sqs_handlers(app: Any) -> list[Any]:
    from chalice.app import SQSEventConfig

    return [source for source in app.event_sources if isinstance(source, SQSEventConfig)]


def start_triggers(stop: threading.Event) -> list[threading.Thread]:
    """Start one SQS poller per handler of the app; they end once `stop` is set."""
    import app as application

    threads = [threading.Thread(target=_poll, args=(stop, application.app, config), daemon=True,
                                name=f"sqs-{config.name}") for config in sqs_handlers(application.app)]
    for thread in threads:
        thread.start()
    return threads
