"""Long jobs in bounded steps: how much one invocation may do, and the progress record that lets exactly one
invocation carry a job from one step to the next.

A job (the fee reminders of a day, the SMS fan-out of a notice) is a sequence of steps, one page of work each.
After each step the invocation records it with a conditional write (`advance`: "still at step n"); a duplicated
or retried continuation that finds the record moved on stops there, so the chain never forks. When the
invocation's budget is spent it enqueues a continuation naming the next step; the state the next step needs
(cursor, counters) lives in the record, not in the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Every function of the app has the 30 s timeout of `.chalice/config.json` (`lambda_timeout`), and the jobs
# consumer takes batches of 10: a third of the timeout leaves room for a slow page and for other records.
DEFAULT_BUDGET_SECONDS = 10.0
# With a Lambda context, spend at most half of what is left (the rest of the batch shares the invocation).
SHARE_OF_REMAINING = 0.5


class Budget:
    """Whether another step may start in this invocation: a time allowance (read from `clock`, a monotonic
    clock in seconds) and optionally a number of steps. A step is started only while both remain and the
    longest step so far would still end within the allowance (the first step always may, if time is left)."""

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic,
                 max_steps: int | None = None, expect: float = 0.0):
        self._seconds = seconds
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._longest = expect  # what a step is assumed to take until one has been timed
        self._max_steps = max_steps
        self.steps = 0

    @classmethod
    def unlimited(cls) -> Budget:
        """No bound (an operator's run from the CLI, tests): the job runs to the end in one call."""
        return cls(None)

    @classmethod
    def for_invocation(cls, context: Any | None, clock: Callable[[], float] = time.monotonic,
                       expect: float = 0.0) -> Budget:
        """The budget of a Lambda invocation: half its remaining time, never more than the default; the
        default alone when there is no context (a schedule, or a caller that has none). `expect` is what a
        step is assumed to take before one has been timed (so a nearly spent invocation starts none)."""
        seconds = DEFAULT_BUDGET_SECONDS
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is not None:
            seconds = min(seconds, max(0.0, remaining() / 1000 * SHARE_OF_REMAINING))
        return cls(seconds, clock=clock, expect=expect)

    def step_done(self) -> None:
        now = self._clock()
        took = now - self._last
        # the first timed step replaces the assumption; later ones can only raise it
        self._longest = took if self.steps == 0 else max(self._longest, took)
        self._last = now
        self.steps += 1

    def left(self) -> bool:
        if self._max_steps is not None and self.steps >= self._max_steps:
            return False
        if self._seconds is None:
            return True
        elapsed = self._clock() - self._started
        return elapsed < self._seconds and elapsed + self._longest <= self._seconds

    def elapsed(self) -> float:
        return self._clock() - self._started


@dataclass(frozen=True)
class Progress:
    """A job's record: `step` steps are done; `state` is what the next step starts from (JSON-safe)."""

    step: int
    state: dict[str, Any] = field(default_factory=dict)
    done: bool = False


class JobProgress(Protocol):
    def load(self, job_id: str) -> Progress | None:
        """The job's record (consistent read), or None if it never started."""

    def begin(self, job_id: str, state: dict[str, Any]) -> Progress:
        """Create the record at step 0 with `state` unless it exists; return the stored record either way."""

    def advance(self, job_id: str, step: int, state: dict[str, Any], done: bool) -> bool:
        """Record that step `step` is done (the record moves to `step + 1` with `state`, finished if `done`)
        if it is still at `step`; False when another invocation already did (this one must stop). Advancing a
        finished record starts the job again, its steps numbered on."""
