"""Synthesize the dev stack once per session (app code only, no dependency download, no AWS account)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parent.parent
if shutil.which("node") is None:
    pytest.skip("infra tests need Node.js for the CDK runtime (jsii): install Node 20+ to run them",
                allow_module_level=True)
try:
    import aws_cdk  # noqa: F401
except ImportError:
    pytest.skip("infra tests need infra/requirements.txt installed (`make infra-check` does it)",
                allow_module_level=True)

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
sys.path.insert(0, str(INFRA))

import definitions  # noqa: E402

STAGE = "dev"
ENVIRONMENT = definitions.apply_stage(STAGE)


def _synth(resources, tmp_path_factory):
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from stack import OwnerPortalStack

    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("chalice-out"))  # the construct writes chalice.out/ into the cwd
    try:
        app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk-out")))
        stack = OwnerPortalStack(app, STAGE, resources=resources, tables=definitions.tables(),
                                 environment=ENVIRONMENT, with_dependencies=False)
        return stack, Template.from_stack(stack)
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    from chalicelib.resources import RESOURCES

    return _synth(RESOURCES, tmp_path_factory)


@pytest.fixture(scope="session")
def template(synthesized):
    return synthesized[1]


@pytest.fixture(scope="session")
def extended(synthesized):
    """The app's real resources now include the photos and receipts buckets, the photo-upload queue and the
    door-access topic, so the tests that need them read the same synthesized stack."""
    return synthesized[1]
