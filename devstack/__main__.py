"""`python -m devstack`: the whole system on this machine (API.md §12). `make run` calls it.

In one foreground process: the moto server (embedded AWS emulator), every resource, the admin and demo
data, `chalice local` as a child process, the SQS stand-in that feeds queue messages to the app's
`on_sqs_message` handlers, and the console echo of every SMS. Ctrl-C stops all of it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from devstack import environment

STAGE = "local"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _banner(api_url: str, emulator_url: str, logins: list[tuple[str, str, str]]) -> None:
    lines = [
        "",
        "Owner portal — local stack is up",
        f"  API        {api_url}   (try {api_url}/health)",
        f"  Emulator   {emulator_url}   (SMS: {emulator_url}/moto-api/data.json → sns.SMS)",
        "  Accounts (role, account, password):",
        *[f"    {role:<11}{account:<12}{password}" for role, account, password in logins],
        "  SMS sent by the app are echoed below as [sms]. Scheduled jobs: python -m chalicelib.cli run-job <name>",
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT") or 8000))
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("AWS_EMULATOR_PORT") or 4566))
    parser.add_argument("--no-demo", action="store_true", help="seed only the admin account")
    args = parser.parse_args(argv)

    busy = [f"{name} port {port}" for name, port in (("API", args.api_port), ("emulator", args.emulator_port))
            if not _port_free(port)]
    if busy:
        print(f"Cannot start: {' and '.join(busy)} already in use. Stop whatever holds it, or choose other ports: "
              "API_PORT=8001 AWS_EMULATOR_PORT=4567 make run", file=sys.stderr)
        return 2

    emulator_url = f"http://127.0.0.1:{args.emulator_port}"
    api_url = f"http://127.0.0.1:{args.api_port}"
    env = environment.apply(STAGE, emulator_url)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    emulator = ThreadedMotoServer(ip_address="127.0.0.1", port=args.emulator_port, verbose=False)
    emulator.start()
    stop = threading.Event()
    api: subprocess.Popen[bytes] | None = None

    def shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        from devstack.provision import provision
        from devstack.seed import seed

        provision()
        logins = seed(with_demo=not args.no_demo)
        api = subprocess.Popen(
            [str(Path(sys.executable).parent / "chalice"), "local", "--stage", STAGE, "--host", "127.0.0.1",
             "--port", str(args.api_port), "--no-autoreload"],
            cwd=environment.ROOT, env={**os.environ, **env}, start_new_session=True,
        )
        if not _wait_http(f"{api_url}/health", 60, api):
            print("The API did not start; see the output above.", file=sys.stderr)
            return 1
        from devstack.triggers import start_triggers

        threads = start_triggers(stop, emulator_url)
        _banner(api_url, emulator_url, logins)
        while not stop.is_set():
            if api.poll() is not None:
                print(f"chalice local exited with code {api.returncode}; stopping.", file=sys.stderr)
                return 1
            stop.wait(0.5)
        for thread in threads:
            thread.join(timeout=5)
        return 0
    finally:
        stop.set()
        if api is not None and api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            try:
                api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait()
        emulator.stop()
        print("Local stack stopped.", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
