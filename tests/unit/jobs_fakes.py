"""An in-memory `JobProgress` (domain.jobs) that answers like `DynamoJobProgress`, and a test clock for budgets."""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.domain.jobs import Progress


class FakeJobProgress:
    def __init__(self) -> None:
        self.records: dict[str, Progress] = {}

    def load(self, job_id: str) -> Progress | None:
        record = self.records.get(job_id)
        return None if record is None else copy.deepcopy(record)

    def begin(self, job_id: str, state: dict[str, Any]) -> Progress:
        if job_id not in self.records:
            self.records[job_id] = Progress(0, copy.deepcopy(state), False)
        return copy.deepcopy(self.records[job_id])

    def advance(self, job_id: str, step: int, state: dict[str, Any], done: bool) -> bool:
        record = self.records.get(job_id)
        if record is None or record.step != step:
            return False
        self.records[job_id] = Progress(step + 1, copy.deepcopy(state), done)
        return True


class StepClock:
    """A monotonic clock (seconds) that the work under test moves on: `tick()` per page read."""

    def __init__(self, seconds_per_tick: float) -> None:
        self.now = 0.0
        self.per_tick = seconds_per_tick

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.per_tick
