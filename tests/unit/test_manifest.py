"""The route manifest that `app.py` mounts: committed, fresh, complete, and enough to serve without area code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from chalicelib import manifest
from chalicelib.manifest.areas import AREAS
from chalicelib.manifest.generate import REGENERATE, generate, render

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_committed_equals_a_freshly_generated_one():
    fresh = render(generate())
    committed = Path(manifest.PATH).read_text(encoding="utf-8")
    assert committed == fresh, (
        "chalicelib/manifest/manifest.json is stale (a route, job or schedule changed): regenerate it with "
        f"`{REGENERATE}` (from the project root, with .venv) and commit it")


def test_manifest_areas_list_every_module_declaring_routes_jobs_or_schedules():
    declaring = re.compile(r"^@(route|job|scheduled)\(", re.MULTILINE)
    found = set()
    for package in ("api", "events"):
        for path in (ROOT / "chalicelib" / package).glob("*.py"):
            if declaring.search(path.read_text(encoding="utf-8")):
                found.add(f"chalicelib.{package}.{path.stem}")
    missing = sorted(found - set(AREAS))
    assert not missing, f"add {missing} to AREAS in chalicelib/manifest/areas.py, then run `{REGENERATE}`"


def test_manifest_view_names_are_unique_and_every_route_names_an_area_function():
    routes = manifest.load()["routes"]
    assert len({entry["name"] for entry in routes}) == len(routes)
    assert {entry["module"] for entry in routes} <= set(AREAS)
    assert {"/health", "/me", "/auth/login"} <= {entry["path"] for entry in routes}


def test_import_app_loads_no_area_module_yet_mounts_every_route_job_and_schedule():
    script = """
import json, sys
import app
from chalice.app import ScheduledEventConfig, SQSEventConfig
loaded = sorted(name for name in sys.modules if name.startswith(("chalicelib.domain", "chalicelib.adapters")))
print(json.dumps({
    "areas": [name for name in sys.argv[1:] if name in sys.modules],
    "loaded": loaded,
    "routes": sorted([path, method] for path, methods in app.app.routes.items() for method in methods),
    "queues": len([s for s in app.app.event_sources if isinstance(s, SQSEventConfig)]),
    "schedules": sorted(name for name in vars(app) if name.startswith("schedule_")),
    "handlers": sorted(s.handler_string for s in app.app.event_sources if isinstance(s, ScheduledEventConfig)),
}))
"""
    done = subprocess.run([sys.executable, "-c", script, *AREAS], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["areas"] == [] and result["loaded"] == []
    expected = sorted([entry["path"], method] for entry in manifest.load()["routes"] for method in entry["methods"])
    assert result["routes"] == expected
    assert result["queues"] == 4  # jobs, photo uploads, SMS outbox, notice SMS
    schedules = sorted("schedule_" + name.replace("-", "_") for name in manifest.load()["schedules"])
    assert result["schedules"] == schedules
    # Lambda resolves a schedule's handler as `app.<name>`: it must be the module attribute, not `<lambda>`.
    assert result["handlers"] == ["app." + name for name in schedules]


def test_a_job_kind_imports_its_module_on_its_first_message():
    script = """
import sys
import app
from chalicelib.events import jobs
kind, module = sys.argv[1], sys.argv[2]
assert module not in sys.modules
handler = jobs._handler(kind)
assert module in sys.modules and handler.__module__ == module
"""
    kind, module = next(iter(manifest.load()["jobs"].items()))
    subprocess.run([sys.executable, "-c", script, kind, module], cwd=ROOT, env=dict(os.environ), check=True)


def test_importing_every_area_after_app_registers_nothing_more():
    script = """
import app
from chalicelib.manifest.areas import import_areas
before = sorted((path, method, entry.view_name) for path, methods in app.app.routes.items()
                for method, entry in methods.items())
sources = len(app.app.event_sources)
import_areas()
after = sorted((path, method, entry.view_name) for path, methods in app.app.routes.items()
               for method, entry in methods.items())
assert after == before and len(app.app.event_sources) == sources
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), check=True)


def test_committed_openapi_description_matches_the_manifest():
    from chalicelib.manifest import openapi

    fresh = openapi.render(manifest.load())
    assert openapi.OPENAPI_PATH.read_text(encoding="utf-8") == fresh, (
        "docs/openapi.json is stale: run `python -m chalicelib.manifest` and commit the result")
    spec = json.loads(fresh)
    public = {path for path, item in spec["paths"].items() for op in item.values() if op["security"] == []}
    assert public >= {"/health", "/auth/login", "/payments/callbacks/{provider}"}
