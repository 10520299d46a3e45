"""Scheduled jobs: `routes.SCHEDULES`, which `app.py` turns into Chalice schedules and the CLI runs on demand.

A scheduled function (`<module>.<function>` under `chalicelib.events`) takes no arguments, must be idempotent and
resumable (a schedule can fire twice, and a run can be cut off), and returns a small summary dict for logs and the
CLI. Its module is imported only when the schedule fires (`run()`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

JobFn = Callable[..., dict[str, Any]]


def function(name: str) -> JobFn:
    """The function of the scheduled job `name` (its module imported now if it was not yet)."""
    from chalicelib.routes import EVENTS, SCHEDULES

    for entry in SCHEDULES:
        if entry.name == name:
            module, attribute = entry.handler.rsplit(".", 1)
            return getattr(importlib.import_module(EVENTS + module), attribute)
    known = ", ".join(entry.name for entry in SCHEDULES)
    raise ValueError(f"no scheduled job named {name!r}; known: {known}")


def run(name: str) -> dict[str, Any]:
    return function(name)()
