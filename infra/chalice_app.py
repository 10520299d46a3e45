"""Chalice's CDK construct, with a template-only packaging mode and access to the generated SAM template."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from chalice import api
from chalice.cdk import Chalice
from lambda_bytecode import add_bytecode, check_runtime

APP_FILES = ("app.py", "chalicelib", ".chalice/config.json", ".chalice/policy-dev.json", ".chalice/policy-prod.json")


class ChaliceApp(Chalice):
    """`chalice package` for the stack's stage, imported into the stack.

    `with_dependencies=False` packages the app's own code only (no `pip download` of requirements.txt): the
    template is the same, the zip is not deployable. Tests and CI use it to synthesize in seconds, offline.
    Either way the deployment zip then gets precompiled bytecode for the functions' runtime (see
    `lambda_bytecode`).
    """

    def __init__(self, scope: Any, construct_id: str, *, source_dir: str, stage_config: dict[str, Any],
                 with_dependencies: bool) -> None:
        self._with_dependencies = with_dependencies
        self.sam: dict[str, Any] = {}
        self.compiled_modules = 0
        super().__init__(scope, construct_id, source_dir=source_dir, stage_config=stage_config)

    def _package_app(self) -> None:
        if self._with_dependencies:
            super()._package_app()
        else:
            self._package_app_only()
        self._add_bytecode()

    def _add_bytecode(self) -> None:
        package = Path(self._sam_package_dir)
        sam = json.loads((package / "sam.json").read_text())
        runtimes = {r["Properties"]["Runtime"] for r in sam["Resources"].values()
                    if r["Type"] == "AWS::Serverless::Function" and "Runtime" in r.get("Properties", {})}
        for runtime in runtimes:
            check_runtime(runtime)
        self.compiled_modules = add_bytecode(package / "deployment.zip")

    def _package_app_only(self) -> None:
        with tempfile.TemporaryDirectory(prefix="chalice-app-only-") as project:
            for name in APP_FILES:
                source, target = Path(self.source_dir) / name, Path(project) / name
                if source.is_dir():
                    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                elif source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
            (Path(project) / "requirements.txt").write_text("")
            api.package_app(project_dir=project, output_dir=self._sam_package_dir, stage=self.stage_name,
                            chalice_config=self.stage_config)

    def _generate_sam_template_with_assets(self, chalice_out_dir: str, package_id: str) -> str:
        path = super()._generate_sam_template_with_assets(chalice_out_dir, package_id)
        self.sam = json.loads(Path(path).read_text())
        return path

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.sam["Resources"].items() if v["Type"] == resource_type}
