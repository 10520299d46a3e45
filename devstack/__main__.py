"""`python -m devstack`: the whole system on this machine (API.md §12). `make run` calls it.

One foreground process, no children: the moto server (embedded AWS emulator), every resource, the admin and
demo data, the API (Chalice's local server on a thread, see `devstack.api_server`), the SQS stand-ins that
feed queue messages to the app's `on_sqs_message` handlers, the SMS echo, the TTL sweeper, and the payment
provider emulators (`devstack.provider_server`: the local stage's Alipay / WeChat Pay secrets point the real
adapters at them; the sandbox stands in for the other methods). Ctrl-C (or
SIGTERM) stops all of it within seconds and saves the emulator's data to the data folder (`.devstack/`),
from which the next start restores it (`--fresh` starts empty). A second Ctrl-C stops at once, unsaved.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

STAGE = "local"
# Console noise off by default: Powertools' metric dumps (the app's WARNING-level logs and errors stay).
QUIET_DEFAULTS = {"POWERTOOLS_METRICS_DISABLED": "true"}
DEFAULT_PROVIDERS_PORT = 4580


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _providers_line(providers_url: str, played: list[Any], notes: list[str]) -> list[str]:
    from devstack.provider_server import PAY_PATH

    if not played:
        return [f"  Providers  none emulated: the sandbox stands in for every method ({'; '.join(notes)})"]
    served = ", ".join(f"{p.provider} {providers_url}{p.emulator.prefix}" for p in played)
    return [f"  Providers  {served}   (the real adapters; the sandbox stands in for the other methods)",
            f"             pay an order: curl -XPOST '{providers_url}{PAY_PATH}"
            "?provider=<name>&out_trade_no=<payment_id>'",
            *[f"             {note}" for note in notes]]


def _banner(api_url: str, emulator_url: str, folder: Path, logins: list[tuple[str, str, str]],
            providers: list[str]) -> None:
    from devstack import reference
    from devstack.api_server import SMS_PATH

    py = ".venv/bin/python"
    page = (f"{api_url}{reference.REFERENCE_PATH}" if reference.available()
            else "off: web/node_modules is not installed (needs Node.js; `make run` installs it)")
    lines = [
        "",
        "Owner portal — local stack is up",
        f"  API        {api_url}   (try {api_url}/health)",
        f"  Reference  {page}   (document: {api_url}{reference.SPEC_URL})",
        f"  Emulator   {emulator_url}",
        *providers,
        f"  SMS        {api_url}{SMS_PATH}   (also echoed below as [sms])",
        f"  Data       {folder}   (kept across restarts; make run FRESH=1 starts empty)",
        "  Accounts (role, account, password):",
        *[f"    {role:<11}{account:<12}{password}" for role, account, password in logins],
        f"  Scheduled jobs: {py} -m chalicelib.cli list-jobs | run-job <name>",
        f"  Pay a sandbox link: {py} -m chalicelib.ops.sandbox '<pay_url>'",
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from chalicelib.ops.stage import devstack_dir

    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT") or 8000))
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("AWS_EMULATOR_PORT") or 4566))
    parser.add_argument("--providers-port", type=int,
                        default=int(os.environ.get("PROVIDER_EMULATOR_PORT") or DEFAULT_PROVIDERS_PORT),
                        help="where the Alipay / WeChat Pay emulators listen (also PROVIDER_EMULATOR_PORT)")
    parser.add_argument("--no-demo", action="store_true", help="seed only the admin account")
    parser.add_argument("--fresh", action="store_true", default=os.environ.get("FRESH", "") not in ("", "0"),
                        help="forget the saved data and start empty (also FRESH=1)")
    parser.add_argument("--data-dir", type=Path, default=devstack_dir(),
                        help="where the data is kept between runs (default .devstack/, or DEVSTACK_DIR)")
    parser.add_argument("--access-log", action="store_true", help="print a line per API request")
    return parser.parse_args(argv)


def _refusal(args: argparse.Namespace) -> str | None:
    from chalicelib.ops.stage import running_stack

    other = running_stack(args.data_dir)
    if other and other.get("pid") != os.getpid():
        return (f"Cannot start: another local stack (pid {other['pid']}, API {other['api_url']}) uses the data "
                f"folder {args.data_dir}. Stop it first, or give this one --data-dir <folder>.")
    ports = (("API", args.api_port), ("emulator", args.emulator_port), ("provider emulators", args.providers_port))
    busy = [f"{name} port {port}" for name, port in ports if not _port_free(port)]
    if busy:
        return (f"Cannot start: {' and '.join(busy)} already in use. Stop whatever holds it, or choose other "
                "ports: API_PORT=8001 AWS_EMULATOR_PORT=4567 PROVIDER_EMULATOR_PORT=4581 make run")
    return None


def _write_runtime(folder: Path, api_url: str, emulator_url: str, providers_url: str) -> Path:
    """Describe this stack for the CLI and the sandbox helper (removed on stop; stale once the pid is gone)."""
    from chalicelib.ops.stage import CALLER_OVERRIDES, RUNTIME_FILE
    from devstack.api_server import SMS_PATH

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUNTIME_FILE
    described = {"pid": os.getpid(), "api_url": api_url, "emulator_url": emulator_url, "sms_url": api_url + SMS_PATH,
                 "providers_url": providers_url,
                 "settings": {k: os.environ[k] for k in CALLER_OVERRIDES if k in os.environ}}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(described, indent=2))
    partial.chmod(0o600)  # holds the local sandbox secret
    os.replace(partial, path)
    return path


class _Stopper:
    """SIGINT/SIGTERM: the first sets `event` (a clean stop that saves the data); a second one exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, *_: object) -> None:
        if self.event.is_set():
            print("Stopped at once; the data of this run is not saved.", file=sys.stderr, flush=True)
            os._exit(130)
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    refusal = _refusal(args)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    stopper = _Stopper()
    stopper.install()
    stop = stopper.event

    from chalicelib.ops import stage as stage_env

    emulator_url = f"http://127.0.0.1:{args.emulator_port}"
    api_url = f"http://127.0.0.1:{args.api_port}"
    for key, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
    stage_env.apply(STAGE, emulator_url)
    # The stage's default names port 8000: receipt links and notify URLs must name the API actually served.
    os.environ["PUBLIC_API_URL"] = api_url
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.server import ThreadedMotoServer

    from devstack import persist
    from devstack.isolation import isolate_writes

    isolate_writes()
    if args.fresh:
        persist.wipe(args.data_dir)
    restored = persist.restore(args.data_dir)
    if restored:
        print(restored, flush=True)
    emulator = ThreadedMotoServer(ip_address="127.0.0.1", port=args.emulator_port, verbose=False)
    emulator.start()
    parts: dict[str, Any] = {}
    try:
        return _serve(args, stop, api_url, emulator_url, parts)
    finally:
        _stop(args.data_dir, stop, parts, emulator)


def _serve(args: argparse.Namespace, stop: threading.Event, api_url: str, emulator_url: str,
           parts: dict[str, Any]) -> int:
    from devstack.provision import provision
    from devstack.seed import seed

    provision()
    parts["seeded"] = True
    logins = seed(args.data_dir, with_demo=not args.no_demo)
    if stop.is_set():
        return 0
    from chalicelib.settings import get_settings
    from devstack import sms, sweeper
    from devstack.api_server import ApiServer
    from devstack.provider_server import ProviderServer, configure_secrets, local_providers
    from devstack.triggers import start_triggers

    parts["providers"] = providers = ProviderServer("127.0.0.1", args.providers_port)
    local = local_providers(providers.url)
    configure_secrets(local.played)  # before the API's first payment reads them
    providers.start([p.emulator for p in local.played], local.played)

    region = get_settings().region
    sms_log = sms.SmsLog(region)
    sms_log.collect()  # texts of earlier runs: readable, not echoed again
    _, echoed = sms_log.since()
    parts["api"] = api = ApiServer(STAGE, "127.0.0.1", args.api_port, sms_log, access_log=args.access_log)
    api.start()
    threads = start_triggers(stop)
    for name, target, call_args in (("sms-echo", sms.echo, (stop, sms_log, echoed)),
                                    ("ttl-sweeper", sweeper.run, (stop,))):
        threads.append(threading.Thread(target=target, args=call_args, name=name, daemon=True))
        threads[-1].start()
    parts["threads"] = threads
    parts["runtime"] = _write_runtime(args.data_dir, api_url, emulator_url, providers.url)
    _banner(api_url, emulator_url, args.data_dir, logins, _providers_line(providers.url, local.played, local.notes))
    stop.wait()
    return 0


def _stop(folder: Path, stop: threading.Event, parts: dict[str, Any], emulator: Any) -> None:
    """Stop the API, then the stand-ins (briefly: a running handler is left to its daemon thread), save, exit."""
    from devstack import persist

    stop.set()
    started = time.monotonic()
    if "api" in parts:
        parts["api"].stop()
    if "providers" in parts:
        parts["providers"].stop()
    deadline = time.monotonic() + 3
    for thread in parts.get("threads", []):
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if parts.get("seeded"):
        size = persist.save(folder)
        print(f"Data saved to {folder} ({size // 1024} KiB).", flush=True)
    emulator.stop()
    if "runtime" in parts:
        parts["runtime"].unlink(missing_ok=True)
    print(f"Local stack stopped in {time.monotonic() - started:.1f} s.", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is saved and every port closed; the interpreter's own teardown of moto's and botocore's
    # objects would take seconds more (measured ~10 s), so leave without it.
    os._exit(code)
