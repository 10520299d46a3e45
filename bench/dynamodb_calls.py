"""DynamoDB calls per request, for every route, counted while the integration suite runs.

The suite (`tests/integration`) runs in this process through `pytest.main`. Every botocore client created
meanwhile (PynamoDB's and boto3's alike: both go through `botocore.session.Session.create_client`) gets a
`before-call.dynamodb` handler. `Chalice.__call__` (the REST entry point) is wrapped to delimit requests, and
the middleware's `current_request` context variable (route template, method, caller role) names them. Calls
made outside a request (fixtures, provisioning, job handlers) are counted apart and never given to a route.
Routes added later are covered as soon as a test calls them; the others are listed as not exercised.
Target: at most 2 calls per owner request, the session check included; no Scan on any request path. The owner
reads that compose several areas have their own budgets (`READ_BUDGETS`, issue 18), whatever the number of units.
"""

from __future__ import annotations

import contextvars
import sys
from collections import Counter
from typing import Any

from bench._common import ROOT, RequestRecord, aggregate, median, not_exercised

OWNER_BUDGET = 2
# GET routes whose budget is not OWNER_BUDGET: the session check included, whatever the owner's number of units
# (tests/integration/test_owner_reads.py asserts them for owners of 1 and 3 units).
READ_BUDGETS = {"/bills": 2, "/bills/summary": 2, "/home": 5, "/notices": 3}
SUITE = "tests/integration"


def budget(route: str, method: str) -> int:
    """The most DynamoDB calls an owner request of this route may make."""
    return READ_BUDGETS.get(route, OWNER_BUDGET) if method == "GET" else OWNER_BUDGET


class Recorder:
    """Collects one RequestRecord per request and counts the calls made outside requests."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.outside: Counter[str] = Counter()
        self._request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
            "bench_request", default=None)

    # botocore handler: `before-call.dynamodb.<Operation>`
    def on_call(self, model: Any = None, **_: Any) -> None:
        operation = getattr(model, "name", "?")
        state = self._request.get()
        info = _middleware_info()
        if state is None or info is None:
            self.outside[operation] += 1
            return
        state["info"] = info
        state["operations"].append(operation)

    def observe(self, original: Any) -> Any:
        """Wrap `Chalice.__call__` so each API request collects its own calls."""
        recorder = self

        def observed(app: Any, event: dict[str, Any], context: Any) -> Any:
            state: dict[str, Any] = {"info": None, "operations": []}
            token = recorder._request.set(state)
            response: Any = None
            try:
                response = original(app, event, context)
                return response
            finally:
                recorder._request.reset(token)
                recorder.records.append(_record(event, response, state))

        return observed


def _middleware_info() -> Any:
    middleware = sys.modules.get("chalicelib.api.middleware")
    return middleware.current_request.get() if middleware is not None else None


def _record(event: dict[str, Any], response: Any, state: dict[str, Any]) -> RequestRecord:
    info = state["info"]
    context = event.get("requestContext") or {}
    route = info.route if info else str(context.get("resourcePath") or event.get("resource") or "?")
    method = info.method if info else str(context.get("httpMethod") or event.get("httpMethod") or "?")
    # A request without any DynamoDB call never reached the session check: it was anonymous.
    role = info.role if info else "anonymous"
    status = int(response.get("statusCode", 0)) if isinstance(response, dict) else 0
    return RequestRecord(route, method.upper(), role, status, tuple(state["operations"]))


def _install(recorder: Recorder) -> None:
    import botocore.session
    from chalice.app import Chalice

    create_client = botocore.session.Session.create_client

    def counted_create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("before-call.dynamodb", recorder.on_call)
        return client

    botocore.session.Session.create_client = counted_create_client  # type: ignore[method-assign]
    Chalice.__call__ = recorder.observe(Chalice.__call__)  # type: ignore[method-assign]


def _all_routes() -> list[tuple[str, str]]:
    module = sys.modules.get("app")
    if module is None:
        return []
    return [(path, method) for path, methods in module.app.routes.items() for method in methods]


def _allowed(route: str, method: str) -> str:
    routing = sys.modules.get("chalicelib.api.routing")
    options = routing.options_for(route, method) if routing is not None else None
    if options is None:
        return "?"
    return "public" if options.public else ", ".join(sorted(options.roles))


def _fmt(value: float) -> str:
    return f"{value:g}"


def render(records: list[RequestRecord], outside: Counter[str], routes: list[tuple[str, str]],
           exit_code: int) -> str:
    rows = aggregate(records)
    missing = not_exercised(routes, rows)
    owner_rows = [row for row in rows.values() if row.role == "owner"]
    owner_over = [row for row in owner_rows if row.max_calls > budget(row.route, row.method)]
    budgeted = [row for row in owner_rows if row.method == "GET" and row.route in READ_BUDGETS]
    scans = sum(row.scans for row in rows.values())
    exercised = len({(route, method) for route, method, _ in rows})
    all_calls = [len(record.operations) for record in records]
    out = [
        "## DynamoDB calls per request",
        "",
        f"Counted with botocore `before-call` hooks while `{SUITE}` ran in-process (pytest exit status "
        f"{exit_code}{'' if exit_code == 0 else ': some tests failed, figures may be incomplete'}). "
        "One row per route, method and caller role (`anonymous`: no accepted session, i.e. public routes and "
        "requests refused with 401/403); a request's calls include its session check. Targets: owner requests "
        f"<= 2 calls (the reads of `READ_BUDGETS`: {', '.join(f'{r} <= {n}' for r, n in READ_BUDGETS.items())}), "
        "no Scan on request paths.",
        "",
        f"- Requests observed: {len(records)} on {exercised} of {len(routes)} route methods "
        f"({len(missing)} not exercised); calls per request: median "
        f"{_fmt(median(all_calls)) if all_calls else '-'}, max {max(all_calls) if all_calls else '-'}.",
        f"- Owner requests within their budget ({OWNER_BUDGET}, or their route's below): "
        + ("all" if not owner_over else "**no** — over budget: "
           + ", ".join(f"`{row.method} {row.route}` (max {row.max_calls})" for row in owner_over))
        + (f" ({sum(row.requests for row in owner_rows)} owner requests)." if owner_rows
           else " (no owner request observed)."),
        "- Owner reads (GET) over the budget: "
        + (", ".join(f"`{row.route}` (max {row.max_calls})" for row in owner_over if row.method == "GET")
           or "none")
        + "; the other rows over it are writes, which also record the owner's history and use conditional "
          "writes or transactions.",
        "- Owner reads with their own budget: "
        + (", ".join(f"`{row.route}` max {row.max_calls} (budget {READ_BUDGETS[row.route]}"
                     f"{'' if row.max_calls <= READ_BUDGETS[row.route] else ', **over**'})"
                     for row in sorted(budgeted, key=lambda r: r.route)) or "none observed") + ".",
        f"- Scans on request paths: **{scans}**.",
        f"- Calls outside any request (fixtures, provisioning, jobs; not attributed): {sum(outside.values())} "
        f"({', '.join(f'{op} {n}' for op, n in sorted(outside.items())) or 'none'}).",
        "",
        "| route | method | allowed | caller | requests | calls median | calls max | operations | Scans | "
        "statuses | owner within budget |",
        "|---|---|---|---|---:|---:|---:|---|---:|---|---|",
    ]
    for key in sorted(rows):
        row = rows[key]
        operations = ", ".join(f"{op} {n}" for op, n in sorted(row.operations.items())) or "none"
        statuses = ", ".join(f"{status}×{n}" for status, n in sorted(row.statuses.items()))
        limit = budget(row.route, row.method)
        check = (("yes" if row.max_calls <= limit else "**NO**") + f" (<= {limit})") if row.role == "owner" else ""
        out.append(f"| `{row.route}` | {row.method} | {_allowed(row.route, row.method)} | {row.role} | "
                   f"{row.requests} | {_fmt(row.median_calls)} | {row.max_calls} | {operations} | "
                   f"{row.scans} | {statuses} | {check} |")
    for route, method in missing:
        out.append(f"| `{route}` | {method} | {_allowed(route, method)} | — | not exercised | | | | | | |")
    if owner_over:
        out += ["", "Owner requests over the budget (the calls of the costliest request, in order):", ""]
        out += [f"- `{row.method} {row.route}` (status {row.worst_status}): {', '.join(row.worst)}"
                for row in owner_over]
    return "\n".join(out) + "\n"


def run() -> str:
    import pytest

    recorder = Recorder()
    _install(recorder)
    exit_code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), str(ROOT / SUITE)])
    return render(recorder.records, recorder.outside, _all_routes(), int(exit_code))
