"""Alipay (RSA2): asynchronous notices verified to Alipay's published specification."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.adapters.payments.common import InvalidSignature, Reply, load_public_key, rsa_sha256_verifies
from chalicelib.domain.payments import CallbackRejected, Notice, PayContext, Payment


def alipay_sign_content(params: dict[str, str]) -> str:
    """Alipay's string to sign for async notices: every parameter but `sign` and `sign_type`, non-empty,
    sorted by name, as `k=v` joined by `&` (values URL-decoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")


class AlipayProvider:
    """Alipay asynchronous notify (RSA2): verify, then check app id, seller id, amount and trade status."""

    name = "alipay"
    success = Reply(200, "success", "text/plain; charset=utf-8")

    def __init__(self, app_id: str, seller_id: str, alipay_public_key: str):
        self._app_id = app_id
        self._seller_id = seller_id
        self._public_key_pem = alipay_public_key

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        return {"out_trade_no": payment.payment_id, "total_amount": f"{Decimal(payment.amount_cents) / 100:.2f}",
                "app_id": self._app_id}

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice:
        params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if params.get("sign_type", "RSA2") != "RSA2" or not params.get("sign"):
            raise InvalidSignature()
        if not rsa_sha256_verifies(load_public_key(self._public_key_pem), alipay_sign_content(params).encode(),
                                   params["sign"]):
            raise InvalidSignature()
        if params.get("app_id") != self._app_id or params.get("seller_id") != self._seller_id:
            raise CallbackRejected("The notice is for another merchant.")
        status = params.get("trade_status", "")
        if status not in ("TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"):
            raise CallbackRejected("The trade status is not final.")
        try:
            amount = Decimal(params["total_amount"]) * 100
        except (KeyError, InvalidOperation):
            raise CallbackRejected("The notice has no valid amount.") from None
        if amount != amount.to_integral_value():
            raise CallbackRejected("The notice has no valid amount.")
        return Notice(self.name, params.get("out_trade_no", ""), params.get("trade_no", ""), int(amount),
                      status != "TRADE_CLOSED")
