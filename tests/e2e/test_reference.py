"""The API document and its interactive reference page, as `make run` serves them on the API's origin."""

from __future__ import annotations

import json
import re

import pytest

from devstack import reference

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not reference.available(), reason="web/node_modules (swagger-ui-dist) not installed")]


def test_the_banner_names_the_reference_page(stack):
    banner = "".join(stack.output)
    assert f"{stack.api_url}/_devstack/reference" in banner


def test_the_reference_page_loads_its_assets_and_the_document(stack):
    status, raw, headers = stack.request_raw("GET", "/_devstack/reference")
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = raw.decode()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert "/_devstack/reference/swagger-ui-bundle.js" in scripts and styles == ["/_devstack/reference/swagger-ui.css"]
    # The page's own script fetches the API document from this origin.
    init = [src for src in scripts if src.endswith("reference-init.js")]
    status, script, _ = stack.request_raw("GET", init[0])
    assert status == 200 and b'"/openapi.json"' in script and b"SwaggerUIBundle" in script


@pytest.mark.parametrize(("name", "kind", "marker"), [
    ("swagger-ui-bundle.js", "text/javascript", b"SwaggerUIBundle"),
    ("swagger-ui.css", "text/css", b".swagger-ui"),
    ("favicon-32x32.png", "image/png", b"\x89PNG"),
])
def test_the_page_assets_are_served(stack, name, kind, marker):
    status, raw, headers = stack.request_raw("GET", f"/_devstack/reference/{name}")
    assert status == 200 and headers["content-type"].startswith(kind)
    assert marker in raw[:200_000]


def test_nothing_else_is_served_from_the_package_folder(stack):
    for path in ("/_devstack/reference/package.json", "/_devstack/reference/../../package.json"):
        status, raw, _ = stack.request_raw("GET", path)
        assert status == 404 and b"swagger-ui-dist" not in raw


def test_the_reference_page_is_read_only(stack):
    status, body, _ = stack.request("POST", "/_devstack/reference", {})
    assert status == 405 and body["code"] == "method_not_allowed"


def test_the_document_is_public_and_names_this_stack_as_its_server(stack):
    status, raw, headers = stack.request_raw("GET", "/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    document = json.loads(raw)
    assert document["openapi"].startswith("3.1")
    assert document["servers"][0]["url"] == stack.api_url
    assert "/health" in document["paths"] and "/auth/login" in document["paths"]
