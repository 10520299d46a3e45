"""The sandbox provider (API.md §6): HMAC-signed notices, used in the local and test stages."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from chalicelib.adapters.payments.common import InvalidSignature, Reply, header
from chalicelib.domain.payments import (
    CallbackRejected,
    Notice,
    PayContext,
    Payment,
    RefundRequest,
    RefundResult,
)


class SandboxProvider:
    """HMAC-SHA256 over the raw body with SANDBOX_PAYMENT_SECRET (API.md §6).

    It holds no state: it never knows how a payment stands (`query` answers None, so only its notice or the
    expiry ends one), has nothing to close, and refunds at once.
    """

    name = "sandbox"
    success = Reply(200, '{"ok":true}')

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, raw: bytes) -> str:
        return hmac.new(self._secret, raw, hashlib.sha256).hexdigest()

    def payload(self, payment: Payment, context: PayContext | None = None) -> dict[str, Any]:
        """A pay link the local tools can follow: it names the payment and is signed and short-lived."""
        query = {"payment_id": payment.payment_id, "amount_cents": str(payment.amount_cents),
                 "expires_at": str(payment.expires_at)}
        token = self.sign(urlencode(sorted(query.items())).encode())
        return {"pay_url": "sandbox://pay?" + urlencode({**query, "token": token})}

    def verify_pay_link(self, query: dict[str, str]) -> bool:
        fields = {k: query.get(k, "") for k in ("payment_id", "amount_cents", "expires_at")}
        expected = self.sign(urlencode(sorted(fields.items())).encode())
        return hmac.compare_digest(expected, query.get("token", "")) and int(fields["expires_at"] or 0) > time.time()

    def parse(self, headers: dict[str, str], raw: bytes) -> Notice:
        if not hmac.compare_digest(self.sign(raw), header(headers, "X-Sandbox-Signature")):
            raise InvalidSignature()
        try:
            body = json.loads(raw)
            status = body["status"]
            amount = body["amount_cents"]
            if status not in ("succeeded", "failed") or isinstance(amount, bool) or not isinstance(amount, int):
                raise ValueError
            return Notice(self.name, str(body["payment_id"]), str(body["provider_txn_id"]), amount,
                          status == "succeeded")
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("The notice is malformed.") from None

    def query(self, payment: Payment) -> Notice | None:
        return None

    def close(self, payment: Payment) -> None:
        return None

    def refund(self, request: RefundRequest) -> RefundResult:
        # derived from our refund id, so asking again answers the same refund (as the real providers do)
        return RefundResult("succeeded", "sbxr_" + hashlib.sha256(request.refund_id.encode()).hexdigest()[:20])

    def query_refund(self, request: RefundRequest) -> RefundResult:
        return self.refund(request)
