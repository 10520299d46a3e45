"""Test-wide setup: the `test` stage's environment, set before anything imports the app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # chalice.test.Client reads .chalice/config.json from the working directory

# moto's in-process mock intercepts by AWS hostnames: an endpoint override would route around it.
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("CAPTCHA_TEST_ANSWER", "TEST42")
# Every answer of an `@endpoint` view is checked against its declared type (api/contract.py).
os.environ.setdefault("CONTRACT_CHECK", "1")

from devstack import environment  # noqa: E402

environment.apply("test", None)

# How long Hypothesis takes to generate or run an example depends on the machine's load, not on the code under
# test: no per-example deadline, and no health checks that time generation (a loaded CI box fails them at random).
settings.register_profile("suite", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture(autouse=True)
def _reset_metrics():
    from chalicelib.observability import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
