"""How much of an invocation a long job may spend before it hands the rest to a continuation."""

from __future__ import annotations

from chalicelib.domain.jobs import DEFAULT_BUDGET_SECONDS, Budget
from tests.unit.jobs_fakes import StepClock


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _steps_until_spent(budget: Budget, clock: StepClock) -> int:
    while budget.left():
        clock.tick()
        budget.step_done()
    return budget.steps


def test_a_fresh_invocation_gets_the_default_a_third_of_the_30_s_timeout():
    clock = StepClock(1.0)
    assert DEFAULT_BUDGET_SECONDS * 3 <= 30
    assert _steps_until_spent(Budget.for_invocation(Context(30_000), clock=clock), clock) == 10


def test_a_late_job_in_a_batch_gets_half_of_what_is_left():
    clock = StepClock(1.0)
    assert _steps_until_spent(Budget.for_invocation(Context(6_000), clock=clock), clock) == 3


def test_without_a_context_the_default_applies():
    clock = StepClock(2.5)
    assert _steps_until_spent(Budget.for_invocation(None, clock=clock), clock) == 4


def test_no_step_starts_that_the_longest_so_far_says_would_overrun():
    clock = StepClock(6.0)
    budget = Budget(10.0, clock=clock)
    assert _steps_until_spent(budget, clock) == 1 and clock.now == 6.0  # a second 6 s step would end at 12 s


def test_nothing_left_means_no_step_and_a_step_limit_is_kept():
    assert not Budget.for_invocation(Context(0)).left()
    clock = StepClock(0.0)
    assert _steps_until_spent(Budget(None, clock=clock, max_steps=3), clock) == 3


def test_an_expected_step_that_would_not_fit_starts_nothing_and_the_first_timed_step_replaces_it():
    clock = StepClock(1.0)
    assert not Budget.for_invocation(Context(3_000), clock=clock, expect=2.0).left()  # 1.5 s < a 2 s step
    budget = Budget(10, clock=clock, expect=6.0)
    assert _steps_until_spent(budget, clock) == 10  # 1 s steps, once one was timed


def test_the_default_fits_every_functions_configured_timeout():
    import json
    from pathlib import Path

    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    timeouts = {config["lambda_timeout"]}
    for stage in config["stages"].values():
        timeouts.add(stage.get("lambda_timeout", config["lambda_timeout"]))
        timeouts.update(f.get("lambda_timeout", config["lambda_timeout"])
                        for f in stage.get("lambda_functions", {}).values())
    assert min(timeouts) >= 3 * DEFAULT_BUDGET_SECONDS


def test_each_job_of_a_batch_gets_its_budget_from_what_the_invocation_has_left(monkeypatch):
    import json

    from chalice.app import SQSEvent

    from chalicelib.events import jobs

    context, seen = Context(25_000), []

    def job(payload):
        seen.append(jobs.budget()._seconds)
        context.remaining_ms -= 6_000  # this job took 6 s

    monkeypatch.setattr(jobs, "handler", lambda kind: job)
    records = [{"messageId": str(n), "receiptHandle": "r", "body": json.dumps({"kind": "x", "payload": {}}),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:1:jobs", "awsRegion": "us-east-1"} for n in range(3)]
    assert jobs.dispatch(list(SQSEvent({"Records": records}, context))) == {"batchItemFailures": []}
    assert seen == [10.0, 9.5, 6.5]  # capped at the default, then half of 19 s and of 13 s
