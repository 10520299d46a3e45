"""Soak: the local stack (`python -m devstack`) under a bounded mix of traffic, start against end.

Starts a fresh stack on free loopback ports (data in a temporary folder), then runs `ROUNDS` rounds; each round
an admin signs in (trusted device), adds a unit and an owner, the new owner signs in with the code texted to
them, changes the initial password, reads home/bills/notices, gets an ad-hoc bill and posts on the board; every
fifth round an urgent notice texts every owner so far. It reports request latency (p50/p95) of the first and
the last rounds, the SMS echo lag (request to `[sms]` line), the cost of the emulator's data.json and the
process's memory, then stops the stack with Ctrl-C (SIGINT) and reports how long that took. Bounded
everywhere: fixed rounds, per-request timeouts, and the harness's own 30-minute limit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("SOAK_ROUNDS") or 100)
EDGE = 10  # rounds compared at the start and at the end
NEW_PASSWORD = "soak test passphrase 42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, api: str):
        self.api = api
        self.timings: list[tuple[int, float]] = []  # (round, seconds)
        self.round = 0
        self.errors = 0

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        self.timings.append((self.round, time.perf_counter() - started))
        if status >= 500:
            self.errors += 1
        return status, (json.loads(raw) if raw else None)

    def texts(self, phone: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"phone": phone})
        with urllib.request.urlopen(f"{self.api}/_devstack/sms?{query}", timeout=30) as answer:
            return json.load(answer)["items"]


def _wait(predicate: Any, timeout: float = 30, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def sign_in(client: Client, account: str, password: str, phone: str, lags: list[tuple[int, float]],
            device: str | None = None) -> dict[str, Any]:
    """Password, then (unless the device is trusted) the texted code; records the echo lag of that text."""
    status, body = client.call("POST", "/auth/login", {"account": account, "password": password,
                                                       **({"device_token": device} if device else {})})
    if status != 200:
        raise RuntimeError(f"login {account}: {status} {body}")
    if body.get("status") != "mfa_required":
        return body
    before = len(client.texts(phone))
    sent_at = time.time()
    client.call("POST", "/auth/sms", {"challenge_id": body["challenge_id"]})
    texts = _wait(lambda: client.texts(phone)[before:])
    if not texts:
        raise RuntimeError(f"no code texted to {account}")
    echoed = _wait(lambda: client.texts(phone)[before]["echoed_at"], timeout=30)
    if echoed:
        lags.append((client.round, echoed - sent_at))
    code = re.search(r"验证码(\d{6})", texts[-1]["message"]).group(1)  # type: ignore[union-attr]
    status, tokens = client.call("POST", "/auth/verify", {"challenge_id": body["challenge_id"], "method": "sms",
                                                          "code": code, "trust_device": True})
    if status != 200:
        raise RuntimeError(f"verify {account}: {status} {tokens}")
    return tokens


def _data_json_seconds(emulator: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"{emulator}/moto-api/data.json", timeout=300) as answer:
        size = len(answer.read())
    return time.perf_counter() - started, size


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start(folder: Path) -> tuple[subprocess.Popen[str], str, str, list[str]]:
    api_port, emulator_port = _free_port(), _free_port()
    env = {**os.environ, "API_PORT": str(api_port), "AWS_EMULATOR_PORT": str(emulator_port),
           "DEVSTACK_DIR": str(folder), "PYTHONUNBUFFERED": "1", "SMS_PER_IP_PER_HOUR": "100000",
           "LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA": "100000"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "devstack", "--no-demo"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "local stack is up" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300):
        process.kill()
        raise RuntimeError("the stack did not start:\n" + "".join(output[-30:]))
    return process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{emulator_port}", output


def _round(client: Client, admin: dict[str, str], world: dict[str, Any], lags: list[tuple[int, float]]) -> None:
    n = client.round
    admin["token"] = sign_in(client, "admin", "local-admin-pass", "+8613800000000", lags,
                             device=admin.get("device"))["access_token"]
    token = admin["token"]
    _, unit = client.call("POST", "/staff/units", {"community_id": world["cid"], "building_id": world["bid"],
                                                   "unit_no": f"{n + 1:04d}", "floor": 1 + n % 30, "area_m2": 90,
                                                   "layout": "3室2厅"}, token)
    phone = f"+86137{50_000_000 + n:08d}"
    _, issued = client.call("POST", "/staff/owners", {"name": f"业主{n}", "phone": phone,
                                                      "unit_ids": [unit["unit_id"]]}, token)
    tokens = sign_in(client, issued["account"], issued["initial_password"], phone, lags)
    owner = tokens["access_token"]
    client.call("POST", "/auth/password", {"old_password": issued["initial_password"],
                                           "new_password": NEW_PASSWORD}, owner)
    for path in ("/home", "/bills", "/notices", "/me"):
        client.call("GET", path, token=owner)
    due = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 10 * 86400))
    client.call("POST", "/staff/bills", {"unit_id": unit["unit_id"], "type": "other", "period": due[:7],
                                         "due_date": due, "items": [{"code": "repair", "name": "公共维修分摊",
                                                                     "unit_price_cents": 5_000}]}, token)
    client.call("GET", "/bills?status=unpaid", token=owner)
    client.call("POST", "/board/posts", {"category": "general", "title": f"第{n}轮", "body": "大家好"}, owner)
    client.call("GET", "/board/posts", token=owner)
    if n % 5 == 4:
        client.call("POST", "/staff/notices", {"community_id": world["cid"], "title": "停水通知", "body": "明天停水",
                                               "category": "outage", "urgency": "urgent", "audience": {},
                                               "send_sms": True}, token)


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


def run() -> str:
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    process, api, emulator, output = _start(folder)
    client = Client(api)
    lags: list[tuple[int, float]] = []
    try:
        dump_start = _data_json_seconds(emulator)
        rss_start = _rss_mib(process.pid)
        admin: dict[str, str] = {}
        first = sign_in(client, "admin", "local-admin-pass", "+8613800000000", lags)
        admin.update(token=first["access_token"], device=first["device_token"])
        _, community = client.call("POST", "/staff/communities", {"name": "压测小区", "address": "上海"},
                                   admin["token"])
        _, building = client.call("POST", f"/staff/communities/{community['community_id']}/buildings",
                                  {"name": "1号楼"}, admin["token"])
        world = {"cid": community["community_id"], "bid": building["building_id"]}
        started = time.monotonic()
        for n in range(ROUNDS):
            client.round = n
            _round(client, admin, world, lags)
        elapsed = time.monotonic() - started
        dump_end = _data_json_seconds(emulator)
        rss_end = _rss_mib(process.pid)
        with urllib.request.urlopen(f"{api}/_devstack/sms", timeout=30) as answer:
            sms_total = json.load(answer)["last"]
    finally:
        stop_started = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stop_seconds = time.monotonic() - stop_started
    early = [s for r, s in client.timings if r < EDGE]
    late = [s for r, s in client.timings if r >= ROUNDS - EDGE]
    lag_early = [s for r, s in lags if r < EDGE]
    lag_late = [s for r, s in lags if r >= ROUNDS - EDGE]
    (e50, e95), (l50, l95) = _percentiles(early), _percentiles(late)
    (s50, s95), (t50, t95) = _percentiles(lag_early), _percentiles(lag_late)
    console = "".join(output)
    return "\n".join([
        "## Soak: the local stack under a bounded traffic mix",
        "",
        f"{ROUNDS} rounds in {elapsed:.0f} s, {len(client.timings)} API requests, {sms_total} texts sent, "
        f"{client.errors} answers ≥ 500. Each round: admin sign-in (trusted device), a unit and an owner, the "
        "owner's SMS sign-in and password change, four reads, an ad-hoc bill, a board post; every fifth round "
        "an urgent notice texted to every owner so far.",
        "",
        f"| measure | first {EDGE} rounds | last {EDGE} rounds |",
        "|---|---|---|",
        f"| request latency p50 / p95 | {e50 * 1000:.0f} / {e95 * 1000:.0f} ms "
        f"| {l50 * 1000:.0f} / {l95 * 1000:.0f} ms |",
        f"| SMS echo lag p50 / p95 (request → `[sms]` line) | {s50:.2f} / {s95:.2f} s | {t50:.2f} / {t95:.2f} s |",
        f"| `GET /moto-api/data.json` (size) | {dump_start[0] * 1000:.0f} ms ({dump_start[1] // 1024} KiB) "
        f"| {dump_end[0] * 1000:.0f} ms ({dump_end[1] // 1024} KiB) |",
        f"| devstack process memory (RSS) | {rss_start:.0f} MiB | {rss_end:.0f} MiB |",
        "",
        f"Stopped with Ctrl-C in {stop_seconds:.1f} s (exit status {process.returncode}); "
        f"{console.count('[sms] to ')} `[sms]` lines echoed. The SMS echo reads new texts from the in-process "
        "emulator and never downloads data.json, so its lag does not grow with the data; the first column's "
        "data.json is taken before any traffic.",
    ])


if __name__ == "__main__":
    print(run())
