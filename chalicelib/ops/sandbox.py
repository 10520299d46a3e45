"""Dev-only helper: complete a sandbox payment from its `pay_url`, as the sandbox provider would.

    .venv/bin/python -m chalicelib.ops.sandbox 'sandbox://pay?payment_id=...&token=...' [--api <url>]

It checks the link's signature and expiry, then posts a correctly signed sandbox callback to the API (the
only public way a payment completes). It finds the running `make run` stack (its API and its
SANDBOX_PAYMENT_SECRET) through `.devstack/runtime.json`; `--api`, `API_PORT` and `SANDBOX_PAYMENT_SECRET`
override, and with no stack up the `local` stage's defaults apply. Local and test stages only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.request
from urllib.parse import parse_qsl, urlsplit


def complete(pay_url: str, api_url: str, secret: str, status: str = "succeeded") -> int:
    from chalicelib.adapters.payments.sandbox import SandboxProvider

    provider = SandboxProvider(secret)
    parts = urlsplit(pay_url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme != "sandbox" or not provider.verify_pay_link(query):
        raise SystemExit("the pay link is not a valid, unexpired sandbox link")
    if urlsplit(api_url).scheme not in ("http", "https"):
        raise SystemExit("--api must be an http(s) URL")
    raw = json.dumps({"payment_id": query["payment_id"], "provider_txn_id": f"sbx_{secrets.token_hex(8)}",
                      "amount_cents": int(query["amount_cents"]), "status": status}).encode()
    headers = {"Content-Type": "application/json", "X-Sandbox-Signature": provider.sign(raw)}
    url = api_url.rstrip("/") + "/payments/callbacks/sandbox"
    request = urllib.request.Request(url, data=raw, method="POST", headers=headers)  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - scheme checked above
        return answer.status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pay_url")
    parser.add_argument("--api", help="the API's URL (default: the running local stack's)")
    parser.add_argument("--fail", action="store_true", help="report the payment as failed instead")
    args = parser.parse_args(argv)
    from chalicelib.ops import stage

    stage.apply_local()
    secret = os.environ.get("SANDBOX_PAYMENT_SECRET")
    if not secret:
        raise SystemExit("SANDBOX_PAYMENT_SECRET is not set (local and test stages only)")
    print(complete(args.pay_url, args.api or stage.local_api_url(), secret, "failed" if args.fail else "succeeded"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
