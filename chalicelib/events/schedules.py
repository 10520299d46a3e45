"""Scheduled jobs: one registry that `app.py` turns into Chalice schedules and the CLI runs on demand.

Areas register a job with `@scheduled("name", "cron(0 2 * * ? *)")`; the function takes no arguments, must
be idempotent and resumable (a schedule can fire twice, and a run can be cut off), and returns a small
summary dict for logs and the CLI. `app.py` wires the schedules from the route manifest
(`chalicelib/manifest/manifest.json`) and imports a job's module only when it fires (`run()`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JobFn = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    expression: str  # an EventBridge schedule expression, in UTC
    fn: JobFn
    description: str


_JOBS: dict[str, ScheduledJob] = {}


def scheduled(name: str, expression: str, description: str = "") -> Callable[[JobFn], JobFn]:
    def register(fn: JobFn) -> JobFn:
        if name in _JOBS:
            raise ValueError(f"scheduled job {name!r} registered twice")
        _JOBS[name] = ScheduledJob(name, expression, fn, description or (fn.__doc__ or "").strip())
        return fn

    return register


def all_jobs() -> dict[str, ScheduledJob]:
    return dict(_JOBS)


def run(name: str) -> dict[str, Any]:
    if name not in _JOBS:
        from chalicelib.routes import EVENTS, SCHEDULES

        for entry in SCHEDULES:
            if entry.name == name:
                importlib.import_module(EVENTS + entry.handler.rsplit(".", 1)[0])
    try:
        job = _JOBS[name]
    except KeyError:
        raise ValueError(f"no scheduled job named {name!r}; known: {', '.join(sorted(_JOBS))}") from None
    return job.fn()
