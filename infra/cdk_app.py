"""CDK entry point: `cdk synth|deploy -c stage=dev` (stages: dev, prod; default: both).

`-c package=app-only` packages the app's code without its dependencies (fast, offline; what CI and the tests
use); the default packages everything with `chalice package`, which is what `cdk deploy` must use.
"""

from __future__ import annotations

import os

import aws_cdk as cdk
import definitions


def build(app: cdk.App, stage: str, *, with_dependencies: bool) -> cdk.Stack:
    environment = definitions.apply_stage(stage)
    from stack import OwnerPortalStack

    from chalicelib.resources import RESOURCES

    return OwnerPortalStack(
        app, stage, stack_name=environment["RESOURCE_PREFIX"], resources=RESOURCES, tables=definitions.tables(),
        environment=environment, with_dependencies=with_dependencies,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        tags={"project": "owner-portal", "stage": stage},
    )


def main() -> None:
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    stage = app.node.try_get_context("stage")
    with_dependencies = app.node.try_get_context("package") != "app-only"
    # chalicelib reads the stage at import: one stage per process (`cdk deploy` runs this once per -c stage).
    build(app, stage or "dev", with_dependencies=with_dependencies)
    app.synth()


if __name__ == "__main__":
    main()
