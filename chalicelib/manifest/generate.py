"""Generate the route manifest from what the area modules declare (`@route`, `@job`, `@scheduled`).

Every Lambda imports `app.py`, so whatever it imports is paid at each cold start. `app.py` therefore imports
no area code: it mounts `manifest.json` (one lazy stub view per route, the jobs consumer, the schedules), and
an area module is imported the first time one of its routes, jobs or schedules runs. The middleware reads
each route's options (`public`, `roles`, `allow_password_change`) from the manifest too.

The manifest is generated and committed:

    python -m chalicelib.manifest          # regenerate after adding or changing a route, job or schedule

A unit test fails while the committed file differs from a fresh one. A new area = one line in `areas.py`
(each module declaring routes, jobs or schedules) + the command above.
"""

from __future__ import annotations

import json
import os
from typing import Any

from chalicelib.manifest import PATH
from chalicelib.manifest.areas import AREAS, import_areas

REGENERATE = "python -m chalicelib.manifest"


def view_name(module: str, function: str) -> str:
    return f"{module.rsplit('.', 1)[-1]}_{function}"


def generate() -> dict[str, Any]:
    """The manifest of what the modules in `AREAS` declare; refuses anything `app.py` could not mount."""
    import sys

    from chalice import Blueprint

    from chalicelib.api import routing
    from chalicelib.events import jobs, schedules

    import_areas()
    problems = []
    for module in AREAS:
        for name, value in vars(sys.modules[module]).items():
            if isinstance(value, Blueprint) and value._deferred_registrations:
                problems.append(f"{module}.{name}: declare views with routing.route(), not Blueprint decorators "
                                "(app.py mounts only the manifest)")

    routes, seen, names = [], set(), set()
    for declared in routing.declared_routes():
        if declared.module not in AREAS:
            problems.append(f"{declared.module} declares routes but is not listed in AREAS")
        name = view_name(declared.module, declared.function)
        if name in names:
            problems.append(f"two views named {name!r}")
        names.add(name)
        for method in declared.methods:
            if (declared.path, method) in seen:
                problems.append(f"{method} {declared.path} declared twice")
            seen.add((declared.path, method))
        routes.append({
            "path": declared.path, "methods": list(declared.methods), "public": declared.options.public,
            "roles": sorted(declared.options.roles), "allow_password_change": declared.options.allow_password_change,
            "module": declared.module, "function": declared.function, "name": name,
        })
    kinds = {kind: handler.__module__ for kind, handler in jobs.handlers().items()}
    timers = {job.name: {"expression": job.expression, "module": job.fn.__module__, "function": job.fn.__name__}
              for job in schedules.all_jobs().values()}
    for what, module in [*(("job " + k, m) for k, m in kinds.items()),
                         *(("schedule " + k, t["module"]) for k, t in timers.items())]:
        if module not in AREAS:
            problems.append(f"{what} is declared in {module}, which is not listed in AREAS")
    if problems:
        raise SystemExit("cannot generate the route manifest:\n  " + "\n  ".join(problems))
    routes.sort(key=lambda entry: (entry["path"], entry["methods"]))
    return {"routes": routes, "jobs": dict(sorted(kinds.items())), "schedules": dict(sorted(timers.items()))}


def render(manifest: dict[str, Any]) -> str:
    """JSON with one line per route, job kind and schedule (readable diffs)."""
    def lines(items: list[str]) -> str:
        return ",\n".join("  " + item for item in items)

    def one(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    routes = lines([one(entry) for entry in manifest["routes"]])
    kinds = lines([f"{one(kind)}: {one(module)}" for kind, module in manifest["jobs"].items()])
    timers = lines([f"{one(name)}: {one(entry)}" for name, entry in manifest["schedules"].items()])
    return f'{{\n "routes": [\n{routes}\n ],\n "jobs": {{\n{kinds}\n }},\n "schedules": {{\n{timers}\n }}\n}}\n'


def main() -> int:
    from chalicelib.ops import stage

    stage.apply("test", None)  # area modules may read settings at import; the manifest never depends on them
    text = render(generate())
    with open(PATH, "w", encoding="utf-8") as handle:
        handle.write(text)
    manifest = json.loads(text)
    from chalicelib.manifest import openapi

    openapi.OPENAPI_PATH.write_text(openapi.render(manifest), encoding="utf-8")
    print(f"wrote {os.path.relpath(openapi.OPENAPI_PATH)}")
    print(f"wrote {os.path.relpath(PATH)}: {len(manifest['routes'])} routes, {len(manifest['jobs'])} job kinds, "
          f"{len(manifest['schedules'])} schedules")
    return 0

