"""The jobs consumer's time budget: what a job that resumes by cursor may spend of the invocation."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.events import jobs

ROOT = Path(__file__).resolve().parents[2]


def test_the_budget_assumes_the_consumers_configured_timeout():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    timeouts = {config["lambda_timeout"]}
    for stage in config["stages"].values():
        timeouts.add(stage.get("lambda_timeout", config["lambda_timeout"]))
        timeouts.add(stage.get("lambda_functions", {}).get("handle_jobs", {}).get("lambda_timeout",
                                                                                   config["lambda_timeout"]))
    assert timeouts == {jobs.FUNCTION_TIMEOUT_SECONDS}
    assert jobs.SAFETY_SECONDS <= jobs.FUNCTION_TIMEOUT_SECONDS / 3


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_every_job_of_a_batch_sees_the_invocations_remaining_time_less_the_margin(monkeypatch):
    from chalice.app import SQSEvent

    context, seen = _Context(25_000), []

    def job(payload):
        seen.append(jobs.seconds_left())
        context.remaining_ms -= 6_000  # this job took 6 s

    monkeypatch.setattr(jobs, "handler", lambda kind: job)
    records = [{"messageId": str(n), "receiptHandle": "r", "body": json.dumps({"kind": "x", "payload": {}}),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:1:jobs", "awsRegion": "us-east-1"} for n in range(3)]
    assert jobs.dispatch(list(SQSEvent({"Records": records}, context))) == {"batchItemFailures": []}
    assert seen == [15.0, 9.0, 3.0]
