"""The OpenAPI document: committed fresh, valid OpenAPI 3.1, and true to the route table."""

from __future__ import annotations

import json

from chalicelib.api import openapi
from chalicelib.routes import ROUTES


def test_committed_document_equals_a_fresh_build():
    fresh = openapi.render()
    committed = openapi.DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == fresh, (
        f"docs/openapi.json is stale (a route, shape, response type or error list changed): run "
        f"`{openapi.REGENERATE}` and commit docs/openapi.json and web/src/api/schema.d.ts")


def test_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate

    validate(json.loads(openapi.render()))


def test_every_route_is_an_operation_with_its_security_and_roles():
    document = openapi.build()
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        assert operation["security"] == ([] if route.public else [{"bearer": []}])
        assert operation["x-roles"] == sorted(route.roles)
