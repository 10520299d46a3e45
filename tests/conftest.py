"""Test-wide setup: the `test` stage's environment, set before anything imports the app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # chalice.test.Client reads .chalice/config.json from the working directory

# moto's in-process mock intercepts by AWS hostnames: an endpoint override would route around it.
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("CAPTCHA_TEST_ANSWER", "TEST42")

from devstack import environment  # noqa: E402

environment.apply("test", None)


@pytest.fixture(autouse=True)
def _reset_metrics():
    from chalicelib.observability import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
