"""`GET /openapi.json`: public, the committed document with the server URL of the stage that answers."""

from __future__ import annotations

import json

from chalicelib.api import openapi


def test_the_document_is_served_without_a_token_with_the_callers_host_as_server(api):
    reply = api.call("GET", "/openapi.json", headers={"Host": "api.example.test"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    served = json.loads(reply.raw)
    assert served["servers"][0]["url"] == "http://api.example.test"
    committed = json.loads(openapi.DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert served["paths"] == committed["paths"]
    assert served["components"] == committed["components"]


def test_behind_api_gateway_the_server_url_carries_the_stage(api):
    context = {"domainName": "abc.execute-api.test", "stage": "dev"}
    assert openapi.server_url({"host": "abc.execute-api.test"}, context) == "https://abc.execute-api.test/dev"
