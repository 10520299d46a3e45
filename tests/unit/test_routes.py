"""The route, job and schedule tables (`chalicelib/routes.py`): complete, resolvable, and all `app.py` mounts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import routes
from chalicelib.events import jobs, schedules
from chalicelib.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]
VIEW_MODULES = sorted({entry.module for entry in ROUTES})


def test_every_route_names_an_existing_view_and_no_view_or_route_is_listed_twice():
    import importlib

    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    assert len({r.view for r in ROUTES}) == len(ROUTES)
    from chalicelib.api.contract import view_endpoint

    for entry in ROUTES:
        view = getattr(importlib.import_module(entry.module), entry.function, None)
        assert callable(view), entry.view
        assert view_endpoint(view) is not None, f"{entry.view} is not declared with @endpoint"


def test_every_view_function_of_an_area_module_is_in_the_table():
    """A view written but not listed would never be served: each `@endpoint` function must be routed."""
    listed = {r.view for r in ROUTES}
    declared = re.compile(r"^@endpoint\(.*?\)\s*\ndef (\w+)", re.MULTILINE | re.DOTALL)
    found = set()
    for path in (ROOT / "chalicelib" / "api").glob("*.py"):
        for function in declared.findall(path.read_text(encoding="utf-8")):
            found.add(f"{path.stem}.{function}")
    assert found, "no views found: the pattern no longer matches how views are declared"
    assert sorted(found - listed) == []


def test_owners_never_reach_staff_routes_and_only_sign_in_paths_are_public():
    for entry in ROUTES:
        if entry.path.startswith("/staff/"):
            assert "owner" not in entry.roles and not entry.public, entry
    public = {(r.method, r.path) for r in ROUTES if r.public}
    assert public == {
        ("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/auth/captcha"), ("POST", "/auth/login"),
        ("POST", "/auth/sms"), ("POST", "/auth/verify"), ("POST", "/auth/refresh"),
        ("POST", "/auth/password/reset"), ("POST", "/auth/password/reset/confirm"),
        ("POST", "/payments/callbacks/{provider}"), ("GET", "/receipts/{receipt_no}/verify"),
    }
    with pytest.raises(ValueError, match="owners never reach"):
        routes.route("GET", "/staff/anything", "platform.me", routes.OWNER)


def test_every_job_kind_and_schedule_resolves_to_a_function():
    for kind in routes.JOBS:
        assert callable(jobs.handler(kind)), kind
    for entry in routes.SCHEDULES:
        assert callable(schedules.function(entry.name)), entry.name
    with pytest.raises(ValueError, match="no handler for job kind"):
        jobs.handler("no-such-kind")
    with pytest.raises(ValueError, match="no scheduled job"):
        schedules.function("no-such-job")


def test_import_app_loads_no_area_code_yet_mounts_every_route_queue_and_schedule():
    script = """
import json, sys
import app
from chalice.app import ScheduledEventConfig, SQSEventConfig
loaded = sorted(name for name in sys.modules
                if name.startswith(("chalicelib.domain", "chalicelib.adapters", "chalicelib.events."))
                or name in sys.argv[1:])
print(json.dumps({
    "loaded": loaded,
    "routes": sorted([path, method] for path, methods in app.app.routes.items() for method in methods),
    "queues": len([s for s in app.app.event_sources if isinstance(s, SQSEventConfig)]),
    "schedules": sorted(name for name in vars(app) if name.startswith("schedule_")),
    "handlers": sorted(s.handler_string for s in app.app.event_sources if isinstance(s, ScheduledEventConfig)),
}))
"""
    done = subprocess.run([sys.executable, "-c", script, *VIEW_MODULES], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["loaded"] == []
    assert result["routes"] == sorted([r.path, r.method] for r in ROUTES)
    assert result["queues"] == 4  # jobs, photo uploads, SMS outbox, notice SMS
    names = sorted("schedule_" + entry.name.replace("-", "_") for entry in routes.SCHEDULES)
    assert result["schedules"] == names
    # Lambda resolves a schedule's handler as `app.<name>`: it must be the module attribute, not `<lambda>`.
    assert result["handlers"] == ["app." + name for name in names]


def test_a_job_kind_imports_its_module_on_its_first_message():
    script = """
import sys
import app
from chalicelib.events import jobs
kind, module = sys.argv[1], sys.argv[2]
assert module not in sys.modules
handler = jobs.handler(kind)
assert module in sys.modules and handler.__module__ == module
"""
    kind, handler = next(iter(routes.JOBS.items()))
    module = routes.EVENTS + handler.rsplit(".", 1)[0]
    subprocess.run([sys.executable, "-c", script, kind, module], cwd=ROOT, env=dict(os.environ), check=True)
