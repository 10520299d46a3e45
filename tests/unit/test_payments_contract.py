"""The payments and household operations as the OpenAPI document states them (what clients are generated from)."""

from __future__ import annotations

from typing import get_args

import pytest

from chalicelib.api import openapi
from chalicelib.api import payments as payments_api
from chalicelib.domain.payments import METHODS


@pytest.fixture(scope="module")
def document():
    return openapi.build()


def _operation(document, method, path):
    return document["paths"][path][method]


def _codes(operation, status):
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]["allOf"][1][
        "properties"]["code"]["enum"]


def test_create_payment_documents_its_idempotency_key_and_errors(document):
    operation = _operation(document, "post", "/payments")
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is True
    assert header["schema"]["maxLength"] == 255
    assert _codes(operation, 422) == ["idempotency_key_reused"]
    assert set(_codes(operation, 409)) == {"conflict", "bill_in_payment", "bill_already_paid", "request_in_progress"}
    assert "method_unavailable" in _codes(operation, 400) and _codes(operation, 404) == ["not_found"]


def test_provider_callback_documents_providers_signature_headers_and_replies(document):
    operation = _operation(document, "post", "/payments/callbacks/{provider}")
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["provider"]["schema"]["enum"] == ["sandbox", "alipay", "wechat"]
    signed = {"X-Sandbox-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
              "Wechatpay-Serial"}
    assert {name for name, p in params.items() if p["in"] == "header"} == signed
    assert not any(params[name]["required"] for name in signed)
    assert operation["security"] == [] and "requestBody" not in operation
    assert {"200", "204"} <= set(operation["responses"])
    assert _codes(operation, 401) == ["invalid_signature"] and "callback_rejected" in _codes(operation, 400)


def test_receipt_check_documents_its_receipt_number_and_code(document):
    operation = _operation(document, "get", "/receipts/{receipt_no}/verify")
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["receipt_no"]["schema"]["pattern"] == params["code"]["schema"]["pattern"]
    assert params["code"]["in"] == "query" and params["code"]["required"] is True


def test_declared_payment_methods_are_the_domain_vocabulary():
    from chalicelib.domain.payments import OFFLINE_METHODS

    # what owners pay online, and what staff record at the front desk
    assert set(get_args(payments_api.Method)) == set(METHODS) | set(OFFLINE_METHODS)
