"""The payment provider emulators of `devstack/emulators/` served over HTTP for `make run`, and the local stage's
provider secrets pointed at them, so the real Alipay and WeChat Pay adapters run locally without outside access.

The server is generic over `devstack.emulators.Emulator` (a `prefix` and `handle(EmuRequest) -> EmuAnswer`): each
request goes to the emulator whose prefix starts its path. `GET /` lists what is served.

Which emulators run, and the secret content that points an adapter at one, is per provider (`SETUPS`): each setup
makes the merchant's keys for our side, builds the emulator with their public half, and returns the config our
adapter reads from its secret (fields as the provider module's docstring lists them). A provider whose emulator
module is absent, or whose setup fails, is left unconfigured: the sandbox stands in for its method and the banner
says so. An emulator module may instead define `local_provider(base_url) -> (emulator, config)` itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.emulators import EmuAnswer, Emulator, EmuRequest, serving

# Local merchant identities: fixed, so the console and saved data read the same from one run to the next.
LOCAL_ALIPAY_APP_ID = "2021000000000001"
LOCAL_ALIPAY_SELLER_ID = "2088000000000001"
LOCAL_WECHAT_MCH_ID = "1900000001"
LOCAL_WECHAT_APP_ID = "wx0000000000000001"


# The owner paying at an emulator: (notify URL, headers, body) of the notice the provider then sends.
PayAction = Callable[[str], tuple[str, dict[str, str], bytes]]


@dataclass
class LocalProvider:
    """One provider played locally: its emulator, what our adapter's secret holds to talk to it, and how the
    owner pays an order there (None when the setup does not say)."""

    provider: str
    emulator: Emulator
    config: dict[str, Any]
    pay: PayAction | None = None


@dataclass
class LocalProviders:
    played: list[LocalProvider] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a provider is not played (the sandbox stands in)


def _rsa_pair() -> tuple[str, str]:
    """A fresh merchant key pair as PEM (PKCS#8 private, SubjectPublicKeyInfo public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _alipay_pay(emulator: Any, out_trade_no: str) -> tuple[str, dict[str, str], bytes]:
    trade = emulator.trades.get(out_trade_no)
    if trade is None:
        raise LookupError("no such trade: open the payment's pay_url first (Alipay creates the trade then)")
    headers, body = emulator.pay(out_trade_no)
    return trade.notify_url, headers, body


def _wechat_pay(emulator: Any, out_trade_no: str) -> tuple[str, dict[str, str], bytes]:
    order = emulator.orders.get(out_trade_no)
    if order is None:
        raise LookupError("no such order")
    headers, body = emulator.pay(out_trade_no)
    return order.request["notify_url"], headers, body


def _alipay(base_url: str) -> tuple[Emulator, dict[str, Any]]:
    from devstack.emulators.alipay import AlipayEmulator  # type: ignore[import-not-found,unused-ignore]

    private, public = _rsa_pair()
    emulator = AlipayEmulator(LOCAL_ALIPAY_APP_ID, LOCAL_ALIPAY_SELLER_ID, public)
    return emulator, {"app_id": LOCAL_ALIPAY_APP_ID, "seller_id": LOCAL_ALIPAY_SELLER_ID, "app_private_key": private,
                      "alipay_public_key": emulator.public_key_pem, "gateway": f"{base_url}/alipay/gateway.do"}


def _wechat(base_url: str) -> tuple[Emulator, dict[str, Any]]:
    import secrets

    from devstack.emulators.wechat import WechatPayEmulator  # type: ignore[import-not-found,unused-ignore]

    private, public = _rsa_pair()
    serial = secrets.token_hex(20).upper()
    api_v3_key = secrets.token_hex(16)  # 32 characters, as WeChat Pay's merchant platform issues it
    emulator = WechatPayEmulator(mch_id=LOCAL_WECHAT_MCH_ID, app_id=LOCAL_WECHAT_APP_ID, api_v3_key=api_v3_key,
                                 merchant_public_key=public, merchant_serial_no=serial,
                                 allow_http_notify=True)  # locally the API is plain http
    return emulator, {"mch_id": LOCAL_WECHAT_MCH_ID, "app_id": LOCAL_WECHAT_APP_ID, "merchant_private_key": private,
                      "merchant_serial_no": serial, "api_v3_key": api_v3_key, **emulator.platform_config(),
                      "api_base": f"{base_url}/wechat"}


# Provider (the registry's name) → its emulator module and how to set it up for the local stage.
SETUPS: dict[str, tuple[str, Callable[[str], tuple[Emulator, dict[str, Any]]]]] = {
    "alipay": ("devstack.emulators.alipay", _alipay),
    "wechat": ("devstack.emulators.wechat", _wechat),
}
PAY_ACTIONS: dict[str, Callable[[Any, str], tuple[str, dict[str, str], bytes]]] = {
    "alipay": _alipay_pay, "wechat": _wechat_pay}
PAY_PATH = "/_local/pay"  # POST ?provider=&out_trade_no=: the owner pays; the provider's notice is posted


def local_providers(base_url: str, setups: dict[str, tuple[str, Callable[..., Any]]] | None = None) -> LocalProviders:
    """Build every emulator present, each with the config that points our adapter at it under `base_url`."""
    found = LocalProviders()
    for provider, (module_name, setup) in (setups if setups is not None else SETUPS).items():
        if importlib.util.find_spec(module_name) is None:
            found.notes.append(f"{provider}: no emulator in this checkout")
            continue
        try:
            module = importlib.import_module(module_name)
            emulator, config = (module.local_provider(base_url) if hasattr(module, "local_provider")
                                else setup(base_url))
        except Exception as error:  # one emulator failing must not stop the local stack
            found.notes.append(f"{provider}: the emulator did not start ({type(error).__name__}: {error})")
            continue
        action = PAY_ACTIONS.get(provider)
        found.played.append(LocalProvider(provider, emulator, config,
                                          (lambda trade, e=emulator, a=action: a(e, trade)) if action else None))
    return found


def configure_secrets(played: Sequence[LocalProvider]) -> None:
    """Point the local stage's provider secrets at the emulators (in the AWS emulator's Secrets Manager).

    Written at every start: the emulators make new keys each time. A provider not played keeps an empty secret,
    so the sandbox stands in for its method."""
    from chalicelib import deps
    from chalicelib.names import PAYMENT_PROVIDER_SECRETS
    from chalicelib.settings import get_settings

    client = deps.aws_client("secretsmanager")
    played_names = {p.provider for p in played}
    for local in played:
        client.put_secret_value(SecretId=get_settings().name(PAYMENT_PROVIDER_SECRETS[local.provider]),
                                SecretString=json.dumps(local.config))
    for provider, logical in PAYMENT_PROVIDER_SECRETS.items():
        if provider not in played_names:
            client.put_secret_value(SecretId=get_settings().name(logical), SecretString="{}")


def pay_locally(played: Sequence[LocalProvider], query: str, post: Callable[..., tuple[int, Any]]) -> EmuAnswer:
    """The owner pays `out_trade_no` at `provider`'s emulator, which then posts its signed notice to our notify
    URL (`post(url, headers, body) -> (status, reply)`, as the emulators' own `post` helpers)."""
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    local = next((p for p in played if p.provider == params.get("provider") and p.pay is not None), None)
    if local is None or not local.pay or not params.get("out_trade_no"):
        return _json(404, {"code": "not_found", "message": "Give ?provider= (an emulated one) and &out_trade_no=."})
    try:
        url, headers, body = local.pay(params["out_trade_no"])
    except Exception as error:  # the emulator refuses (unknown, expired, already paid): say why
        return _json(409, {"code": "conflict", "message": f"{type(error).__name__}: {error}"})
    status, reply = post(url, headers, body)
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return _json(200, {"notified": url, "status": status, "reply": text[:500]})


def _json(status: int, document: dict[str, Any]) -> EmuAnswer:
    return EmuAnswer(status, {"Content-Type": "application/json; charset=utf-8"},
                     json.dumps(document, ensure_ascii=False).encode())


def dispatch(emulators: Sequence[Emulator], method: str, target: str, headers: dict[str, str],
             body: bytes, played: Sequence[LocalProvider] = ()) -> EmuAnswer:
    """Answer one HTTP request with the emulator serving its path (404 when none does)."""
    parts = urlsplit(target)
    if parts.path == PAY_PATH and method == "POST":
        return pay_locally(played, parts.query, _post)
    if parts.path == "/" and method in ("GET", "HEAD"):
        listing = {"emulators": [e.prefix for e in emulators]}
        return EmuAnswer(200, {"Content-Type": "application/json"}, json.dumps(listing).encode())
    found = serving(emulators, parts.path)
    if found is None:
        return EmuAnswer(404, {"Content-Type": "application/json"},
                         b'{"code": "not_found", "message": "No emulator serves this path."}')
    emulator, rest = found
    try:
        return emulator.handle(EmuRequest(method, rest, parts.query, headers, body))
    except Exception as error:  # report it like a provider's outage, keep serving
        print(f"[providers] {emulator.prefix} failed on {method} {parts.path}: {type(error).__name__}",
              file=sys.stderr, flush=True)
        return EmuAnswer(500, {"Content-Type": "text/plain; charset=utf-8"}, b"emulator error")


def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # our own local notify URL
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class _Handler(BaseHTTPRequestHandler):
    emulators: Sequence[Emulator] = ()
    played: Sequence[LocalProvider] = ()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet, like the API's console
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = dispatch(self.emulators, self.command, self.path, dict(self.headers.items()), body, self.played)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class ProviderServer:
    """The emulators over HTTP on a thread of the devstack process. The port is bound at once (`port` 0: any
    free one), so `url` is known before the emulators, whose configs name it, are built."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._handler = type("Handler", (_Handler,), {"emulators": ()})
        self._server = ThreadingHTTPServer((host, port), self._handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,), name="providers",
                                        daemon=True)

    def start(self, emulators: Sequence[Emulator], played: Sequence[LocalProvider] = ()) -> None:
        self._handler.emulators = tuple(emulators)
        self._handler.played = tuple(played)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
