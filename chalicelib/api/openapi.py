"""The OpenAPI 3.1 document of the API, built from the route table and each view's `@endpoint` contract.

Served at `GET /openapi.json` (built on the first request of a container, with the server URL of the running
stage) and committed as `docs/openapi.json`, which the web clients' typed client is generated from:

    make openapi        # after changing a route, a shape, a response type or an error list

A unit test fails while the committed file differs from a fresh build. Request schemas come from the shapes'
fields (the same objects that validate), response schemas from the TypedDicts (through msgspec), error
responses from the codes each view declares plus those every route shares.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

from chalicelib.api.contract import ERROR_STATUS, Endpoint, view_endpoint
from chalicelib.api.validation import IDENT_SCHEMA, Field, Shape
from chalicelib.routes import ROUTES, Route

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "make openapi"
LOCAL_SERVER = {"url": "http://127.0.0.1:8000", "description": "make run (the local stack)"}
REF = "#/components/schemas/{name}"

_DESCRIPTIONS = {
    400: "The request is not valid: `validation_error` lists every bad field in `details.fields`.",
    401: "Not authenticated: a missing, expired or revoked token, or a wrong credential.",
    403: "Not allowed for this caller's role, or the password must be changed first.",
    404: "Not found, or not the caller's (owners and staff never learn what is not theirs).",
    409: "Conflicts with the current state.",
    413: "The body is larger than 64 KiB.",
    422: "Well formed but cannot be processed.",
    423: "The account is locked: `details.retry_after` and a `Retry-After` header give the seconds left.",
    429: "Too many requests: `details.retry_after` and a `Retry-After` header.",
    500: "Something went wrong on our side (never carries internals).",
    503: "A dependency is unavailable; nothing was changed, a retry may succeed.",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    kind = schema.get("type")
    if "$ref" in schema or "anyOf" in schema:
        options = schema.pop("anyOf", None) or [{"$ref": schema.pop("$ref")}]
        return {**schema, "anyOf": [*options, {"type": "null"}]}
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self.shapes: dict[str, type[Shape]] = {}
        self.response_types: list[Any] = []

    def field_schema(self, field: Field, *, patch: bool) -> dict[str, Any]:
        schema = copy.deepcopy(field.schema)
        if field.shape is not None:
            ref = {"$ref": REF.format(name=self.shape(field.shape))}
            schema = {**schema, "items": ref} if schema.get("type") == "array" else ref
        if field.description:
            schema.setdefault("description", field.description)
        # `null` is taken as absent for an optional field, and clears a nullable one in a PATCH: say so.
        if (patch and field.nullable) or (not patch and not field.required):
            schema = _nullable(schema)
        return schema

    def shape(self, shape: type[Shape]) -> str:
        name = shape.__name__
        known = self.shapes.setdefault(name, shape)
        if known is not shape:
            raise ValueError(f"two request shapes named {name} ({known.__module__}, {shape.__module__}); rename one")
        if name not in self.schemas:
            self.schemas[name] = {}  # recursion guard
            properties = {key: self.field_schema(field, patch=shape.patch) for key, field in shape.fields.items()}
            schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
            required = [key for key, field in shape.fields.items() if field.required]
            if required:
                schema["required"] = required
            doc = vars(shape).get("__doc__")  # its own docstring only, never one inherited from a base
            if doc:
                schema["description"] = inspect.cleandoc(doc)
            self.schemas[name] = schema
        return name

    def parameters(self, route: Route, spec: Endpoint) -> list[dict[str, Any]]:
        found = []
        for name in re.findall(r"\{([^}]+)\}", route.path):
            field = spec.path.get(name)
            schema = copy.deepcopy(field.schema) if field is not None else dict(IDENT_SCHEMA)
            found.append({"name": name, "in": "path", "required": True, "schema": schema})
        if spec.query:
            for name, field in spec.query.fields.items():
                param = {"name": name, "in": "query", "required": field.required,
                         "schema": copy.deepcopy(field.schema)}
                if field.description:
                    param["description"] = field.description
                found.append(param)
        if spec.headers:
            for name, field in spec.headers.fields.items():
                found.append({"name": spec.headers.headers[name], "in": "header", "required": field.required,
                              "schema": copy.deepcopy(field.schema),
                              **({"description": field.description} if field.description else {})})
        return found

    def error_codes(self, route: Route, spec: Endpoint) -> dict[int, list[str]]:
        codes = ["validation_error", "payload_too_large", "internal_error"]
        if not route.public:
            codes += ["unauthenticated", "forbidden", "password_change_required"]
        if "{" in route.path:
            codes.append("not_found")
        if spec.query is not None and "cursor" in spec.query.fields:
            codes.append("invalid_cursor")
        codes += spec.errors
        by_status: dict[int, list[str]] = {}
        for code in codes:
            listed = by_status.setdefault(ERROR_STATUS[code], [])
            if code not in listed:
                listed.append(code)
        return dict(sorted(by_status.items()))

    def success(self, spec: Endpoint) -> dict[str, Any]:
        answers = {spec.status: spec.response, **spec.responses}
        out: dict[str, Any] = {}
        for status, kind in sorted(answers.items()):
            if status == 204 or kind is None:
                out[str(status)] = {"description": "Done; no body."}
            elif spec.content and status == spec.status:
                out[str(status)] = {"description": "The document.",
                                    "content": {spec.content: {"schema": {"type": "string", "format": "binary"}}}}
            else:
                out[str(status)] = {"description": "Success.",
                                    "content": {"application/json": {"schema": self.response_schema(kind)}}}
        return out

    def response_schema(self, kind: Any) -> dict[str, Any]:
        if isinstance(kind, tuple):
            return {"anyOf": [self.response_schema(k) for k in kind]}
        self.response_types.append(kind)
        return {"$ref": REF.format(name=kind.__name__)}

    def operation(self, route: Route) -> dict[str, Any]:
        from chalicelib.api.routing import resolve

        view = resolve(route.module, route.function)
        spec = view_endpoint(view)
        if spec is None:
            raise ValueError(f"{route.view} is not declared with @endpoint: its contract cannot be documented")
        doc = inspect.getdoc(view) or ""
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": doc.splitlines()[0] if doc else route.function.replace("_", " ").capitalize(),
            "tags": [route.module.rsplit(".", 1)[-1]],
            "security": [] if route.public else [{"bearer": []}],
            "x-roles": sorted(route.roles),
        }
        if route.while_password_change:
            operation["x-allowed-while-password-change-required"] = True
        if doc and "\n" in doc:
            operation["description"] = doc
        parameters = self.parameters(route, spec)
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {
                "required": any(f.required for f in spec.body.fields.values()),
                "content": {"application/json": {"schema": {"$ref": REF.format(name=self.shape(spec.body))}}}}
        operation["responses"] = self.success(spec)
        for status, codes in self.error_codes(route, spec).items():
            operation["responses"][str(status)] = {
                "description": _DESCRIPTIONS.get(status, "An error.") + " Codes: " + ", ".join(f"`{c}`" for c in codes),
                "content": {"application/json": {"schema": {"allOf": [
                    {"$ref": REF.format(name="Error")},
                    {"type": "object", "properties": {"code": {"enum": codes}}}]}}}}
        return operation

    def document(self, server: dict[str, str]) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for route in ROUTES:
            paths.setdefault(route.path, {})[route.method.lower()] = self.operation(route)
        responses = _response_components(self.response_types)
        shared = sorted(set(responses) & set(self.schemas))
        if shared:
            raise ValueError(f"a request shape and a response type share a name: {shared}; rename one")
        self.schemas.update(responses)
        self.schemas["Error"] = {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "description": "Every error answer (API.md §1).",
            "properties": {"code": {"type": "string", "description": "Stable, machine-readable"},
                           "message": {"type": "string", "description": "For engineers, in English"},
                           "details": {"type": "object", "description": "Depends on the code, e.g. `fields`"}}}
        return {
            "openapi": "3.1.0",
            "info": {"title": "Owner portal API (物业管理系统 · 业主端)", "version": "1.0.0",
                     "description": "Built from the route table and the views' contracts (`" + REGENERATE + "`). "
                                    "The contract is API.md: JSON in snake_case, money in integer fen "
                                    "(`_cents`), times RFC 3339 UTC, lists paginated with opaque cursors."},
            "servers": [server],
            "paths": dict(sorted(paths.items())),
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                "schemas": dict(sorted(self.schemas.items())),
            },
        }


def _response_components(types: list[Any]) -> dict[str, Any]:
    if not types:
        return {}
    import msgspec

    unique = list(dict.fromkeys(types))
    names = [kind.__name__ for kind in unique]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:  # components are referenced by bare class name: two types of one name would share a schema
        raise ValueError(f"response types declared twice under one name: {clashes}; rename one")
    _, components = msgspec.json.schema_components(unique, ref_template=REF)
    return components


def build(server: dict[str, str] | None = None) -> dict[str, Any]:
    return _Builder().document(server or LOCAL_SERVER)


def render(document: dict[str, Any] | None = None) -> str:
    return json.dumps(document or build(), ensure_ascii=False, indent=1) + "\n"


def server_url(headers: Any, context: dict[str, Any]) -> str:
    """The base URL the caller reached this API at: API Gateway's domain and stage, or the local server's host."""
    host = headers.get("host") or context.get("domainName") or "127.0.0.1"
    stage = context.get("stage")
    if context.get("domainName") and stage and stage != "$default" and not host.startswith("127.0.0.1"):
        return f"https://{host}/{stage}"
    return f"{'https' if headers.get('x-forwarded-proto') == 'https' else 'http'}://{host}"


_served: dict[str, str] = {}


def served(server_url: str, description: str) -> str:
    """The document as served by this container for `server_url` (built once per URL)."""
    if server_url not in _served:
        _served[server_url] = json.dumps(build({"url": server_url, "description": description}),
                                         ensure_ascii=False, separators=(",", ":"))
    return _served[server_url]


def main() -> int:
    from chalicelib.ops import stage

    stage.apply("test", None)  # area modules may read settings at import; the document never depends on them
    DOCUMENT_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
