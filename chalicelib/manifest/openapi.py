"""`docs/openapi.json`: the project's OpenAPI description, generated with the route manifest.

It lists every route the app serves with its authentication (bearer token unless public), the roles allowed,
the path parameters, the view's own description and the API.md error format. Request and response bodies are
described in API.md; this file adds what API.md leaves to the implementation (roles per route, the extra
routes and fields each area documents in its view docstrings).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

_ERRORS = {
    "400": "validation_error (details.fields), invalid_cursor, or a more specific code",
    "401": "unauthenticated: missing, expired or revoked token",
    "403": "forbidden (role) or password_change_required",
    "404": "not_found: missing, or belonging to someone else",
    "409": "conflict or a more specific code named in API.md",
    "413": "payload_too_large: body over 64 KiB",
    "429": "rate_limited: details.retry_after and a Retry-After header",
    "500": "internal_error: never carries internals",
}


def _describe(module: str, function: str) -> tuple[str, str]:
    view = getattr(importlib.import_module(module), function)
    doc = inspect.getdoc(view) or ""
    summary = doc.splitlines()[0] if doc else function.replace("_", " ").capitalize()
    return summary, doc


def build(manifest: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in manifest["routes"]:
        summary, description = _describe(route["module"], route["function"])
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"\{([^}]+)\}", route["path"])]
        errors = {code: {"description": text, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
            for code, text in _ERRORS.items() if not (route["public"] and code in ("401", "403"))}
        for method in route["methods"]:
            operation: dict[str, Any] = {
                "operationId": f"{route['name']}_{method.lower()}" if len(route["methods"]) > 1 else route["name"],
                "summary": summary,
                "tags": [route["module"].rsplit(".", 1)[-1]],
                "security": [] if route["public"] else [{"bearer": []}],
                "x-roles": [] if route["public"] else route["roles"],
                "x-allowed-while-password-change-required": route["allow_password_change"],
                "responses": {"2XX": {"description": "Success: the shape is given in API.md"}, **errors},
            }
            if description and description != summary:
                operation["description"] = description
            if params:
                operation["parameters"] = params
            paths.setdefault(route["path"], {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Owner portal API (物业管理系统 · 业主端)", "version": "1.0.0",
                 "description": "Generated from the route manifest (`python -m chalicelib.manifest`). The contract "
                                "is ../shared/API.md; every request and response is JSON in snake_case, money in "
                                "integer fen (`_cents`), times RFC 3339 UTC."},
        "servers": [{"url": "http://127.0.0.1:8000", "description": "make run"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}},
        },
    }


def render(manifest: dict[str, Any]) -> str:
    return json.dumps(build(manifest), ensure_ascii=False, indent=1, sort_keys=False) + "\n"
