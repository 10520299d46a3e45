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
