"""Shared by the benchmarks that run the app under moto: the test stage's environment and an AWS call counter."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_stage_environment() -> None:
    """Import paths and environment of the `test` stage, with no endpoint override (moto intercepts in process)."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from devstack import environment

    environment.apply("test", None)


class CallCounter:
    """Counts every AWS API call (by operation) of every botocore client created after `install()`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def hook(self, model, **_):
        self.calls[model.name] += 1

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        counter = self

        def create_client(session, *args, **kwargs):
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call.*.*", counter.hook)
            return client

        botocore.session.Session.create_client = create_client

    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
