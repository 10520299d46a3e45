"""The first-request path and the memory of a fresh app process (used by `bench/cold_start.py`).

The emulator (moto's server) runs in the bench process; every measured process is a fresh interpreter that
reaches it over HTTP (`AWS_ENDPOINT_URL`), so its CPU time and peak RSS are the app's alone. A measured process
calls the Lambda entry point (`app.app(event, context)`) with API Gateway proxy events, as Lambda would: no
`chalice.test` and no local server on the path.

* `app`: import the app, serve one authenticated GET /bills.
* `floor`: import botocore, build one client per service the app called, replay exactly the AWS calls the app
  made for that request (recorded by a calibration run) and verify the token's HMAC: what the request needs at
  the least.
* `mixed`: import the app, serve a mix of owner and staff requests (peak RSS).

CPU time is `time.process_time()` from the first line of the measured script to the answer (interpreter start-up
is the same for every side and left out); peak RSS is the process's high-water mark (`VmHWM`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import ROOT

MIXED_REQUESTS = 100

_PRELUDE = """
import json, sys, time
started = time.process_time()
sys.path.insert(0, {root!r})
spec = json.load(open({spec!r}))
"""

_EVENT = """
def event(method, path, token, body=None, query=None):
    resource_path, params = path, None  # the mix has no path parameters
    return {
        "resource": resource_path, "path": path, "httpMethod": method,
        "headers": {"authorization": "Bearer " + token, "content-type": "application/json",
                    "x-forwarded-for": "203.0.113.7"},
        "multiValueHeaders": None, "pathParameters": params, "stageVariables": None,
        "queryStringParameters": query, "multiValueQueryStringParameters":
            {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {"httpMethod": method, "resourcePath": resource_path, "path": "/api" + path,
                           "stage": "api", "apiId": "bench", "requestId": "r-" + str(time.time_ns()),
                           "identity": {"sourceIp": "203.0.113.7"}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


class Context:
    function_name, function_version, memory_limit_in_mb = "owner-portal-test-APIHandler", "$LATEST", 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:owner-portal-test-APIHandler"
    aws_request_id, log_group_name, log_stream_name = "bench", "", ""

    @staticmethod
    def get_remaining_time_in_millis():
        return 30000
"""

_RECORD = """
calls = []
if spec.get("record"):
    import botocore.session
    original = botocore.session.Session.create_client

    def create_client(session, *args, **kwargs):
        client = original(session, *args, **kwargs)
        service = client.meta.service_model.service_name

        def hook(params, model, **_):
            calls.append([service, model.name, params])

        client.meta.events.register("provide-client-params.*.*", hook)
        return client

    botocore.session.Session.create_client = create_client
"""

_FINISH = """
cpu = time.process_time() - started
# The high-water mark of this image (ru_maxrss would count the forking parent's pages too).
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"cpu": cpu, "rss_kib": peak,
                  "statuses": statuses, "calls": calls,
                  "modules": [getattr(m, "__file__", None) for m in list(sys.modules.values())]}))
"""

APP_SCRIPT = _EVENT + _RECORD + """
import app
answer = app.app(event("GET", "/bills", spec["owner"]), Context())
statuses = [answer["statusCode"]]
""" + _FINISH

MIXED_SCRIPT = _EVENT + """
calls = []
import app
statuses = []
for method, path, role, body, query in spec["mix"]:
    statuses.append(app.app(event(method, path, spec[role], body, query), Context())["statusCode"])
""" + _FINISH

FLOOR_SCRIPT = """
import base64, hashlib, hmac
import botocore.session
from botocore.config import Config

session = botocore.session.get_session()
clients = {}
for service, operation, params in spec["calls"]:
    if service not in clients:
        clients[service] = session.create_client(service, region_name="us-east-1",
                                                 config=Config(parameter_validation=False))
    clients[service]._make_api_call(operation, params)
header, payload, signature = spec["owner"].encode().split(b".")
digest = hmac.new(b"k" * 32, header + b"." + payload, hashlib.sha256).digest()
hmac.compare_digest(digest, base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4)))
json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
statuses, calls = [200], []
""" + _FINISH


@dataclass
class Sample:
    cpu: float
    rss_mib: float
    statuses: list[int]
    calls: list[list[Any]]
    modules: list[str | None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The emulator in this process, provisioned, with an admin, a community, a staff member and an owner
    with bills; `spec()` is what a measured process needs (fresh tokens, the request mix)."""

    def __init__(self) -> None:
        self.emulator: Any = None
        self.api: Any = None
        self.client: Any = None
        self.world: Any = None
        self.owner: Any = None

    def start(self) -> None:
        sys.path.insert(0, str(ROOT))
        os.chdir(ROOT)
        from moto.server import ThreadedMotoServer

        from devstack import environment
        from devstack.isolation import isolate_writes

        port = _free_port()
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(key, None)
        environment.apply("test", f"http://127.0.0.1:{port}")
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the prod stage's level; keeps the report quiet
        os.environ.setdefault("CAPTCHA_TEST_ANSWER", "TEST42")
        isolate_writes()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.emulator = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.emulator.start()
        self._populate()

    def _populate(self) -> None:
        from chalice.test import Client

        from app import app
        from chalicelib import deps
        from chalicelib.ops.seed import create_admin
        from devstack.provision import provision
        from tests.integration.helpers import ADMIN_PASSWORD, Api, FreshTokens, make_world

        deps.reset()
        provision()
        create_admin(ADMIN_PASSWORD)
        self.client = Client(app, stage_name="test")
        self.api = Api(self.client)
        self.world = make_world(self.api, FreshTokens(self.api, "admin", ADMIN_PASSWORD))
        self.owner = self.world.owner(self.world.unit_ids[:2])
        for n, unit in enumerate(self.world.unit_ids[:2] * 3):
            reply = self.api.post("/staff/bills", {
                "unit_id": unit, "type": "other", "period": f"2026-{n + 1:02d}", "due_date": f"2026-{n + 1:02d}-20",
                "items": [{"code": "repair", "name": "公共维修分摊", "unit_price_cents": 5_000 + n}]},
                token=self.world.admin)
            if reply.status != 201:
                raise RuntimeError(f"bench setup: ad-hoc bill {reply.status} {reply.body}")

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def mix(self) -> list[tuple[str, str, str, Any, Any]]:
        """`MIXED_REQUESTS` requests: owners' reads and board posts, staff lists (method, path, role, body,
        query)."""
        cid = self.world.community_id
        owner = [("GET", "/bills", None), ("GET", "/home", None), ("GET", "/notices", None), ("GET", "/me", None),
                 ("GET", "/bills/summary", None), ("GET", "/board/posts", None), ("GET", "/messages", None),
                 ("GET", "/payments", None), ("GET", "/repairs", None), ("GET", "/events", None)]
        staff = [("GET", "/staff/units", {"community_id": cid}),
                 ("GET", "/staff/bills", {"community_id": cid, "period": "2026-01"}),
                 ("GET", "/staff/repairs", {"community_id": cid}), ("GET", "/me", None),
                 ("GET", "/board/posts", {"community_id": cid})]
        requests: list[tuple[str, str, str, Any, Any]] = []
        while len(requests) < MIXED_REQUESTS:
            n = len(requests)
            if n % 10 == 9:
                requests.append(("POST", "/messages", "owner",
                                 {"category": "question", "subject": f"第{n}个问题", "body": "电梯何时检修?"}, None))
            elif n % 3 == 2:
                method, path, query = staff[n % len(staff)]
                requests.append((method, path, "staff", None, query))
            else:
                method, path, query = owner[n % len(owner)]
                requests.append((method, path, "owner", None, query))
        return requests

    def spec(self, **extra: Any) -> dict[str, Any]:
        return {"owner": self.owner.token, "staff": self.world.staff.token, "mix": self.mix(), **extra}


def measure(script: str, spec: dict[str, Any], *, python_flags: tuple[str, ...] = (),
            env_extra: dict[str, str] | None = None, root: Path = ROOT) -> Sample:
    """Run one measured script in a fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(env_extra or {})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
        spec_file = handle.name
    try:
        source = _PRELUDE.format(root=str(root), spec=spec_file) + script
        done = subprocess.run([sys.executable, *python_flags, "-c", source],
                              cwd=root, env=env, capture_output=True, text=True, check=False, timeout=600)
    finally:
        os.unlink(spec_file)
    if done.returncode != 0:
        raise RuntimeError(f"measured process failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(result["cpu"], result["rss_kib"] / 1024, result["statuses"], result["calls"], result["modules"])


def site_dirs() -> list[Path]:
    paths = sysconfig.get_paths()
    return sorted({Path(paths[key]).resolve() for key in ("purelib", "platlib")})


def build_package(modules: list[str | None], target: Path, *, with_app: bool = True) -> None:
    """A directory laid out like the Lambda package: the app's files (unless `with_app` is False: the floor's
    package) and, at the top level, every third-party package (or module) that `modules` were loaded from —
    sources only, no bytecode, as `chalice package` ships them."""
    target.mkdir(parents=True)
    if with_app:
        shutil.copy2(ROOT / "app.py", target / "app.py")
        shutil.copytree(ROOT / "chalicelib", target / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    tops: set[str] = set()
    for path in filter(None, modules):
        resolved = Path(path).resolve()
        for site in site_dirs():
            if resolved.is_relative_to(site):
                tops.add(resolved.relative_to(site).parts[0])
    for top in sorted(tops):
        for site in site_dirs():
            source = site / top
            if source.is_dir():
                shutil.copytree(source, target / top, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
            elif source.exists():
                shutil.copy2(source, target / top)
