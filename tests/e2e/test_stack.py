"""The local stack as a newcomer meets it: `make run`, then HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, admin_login

pytestmark = pytest.mark.e2e


def test_stack_serves_health_with_a_request_id(stack):
    status, body, headers = stack.request("GET", "/health")
    assert status == 200 and body == {"status": "ok"}
    assert headers["x-request-id"]


def test_banner_prints_the_demo_logins(stack):
    banner = "".join(stack.output)
    assert "admin" in banner and "zhangwei" in banner and "lina" in banner


def test_admin_creates_community_building_unit_and_owner_over_http(stack):
    token = admin_login(stack)
    status, community, _ = stack.request("POST", "/staff/communities", {"name": "e2e小区", "address": "上海"}, token)
    assert status == 201
    cid = community["community_id"]
    status, building, _ = stack.request("POST", f"/staff/communities/{cid}/buildings", {"name": "A栋"}, token)
    assert status == 201
    status, unit, _ = stack.request("POST", "/staff/units", {
        "community_id": cid, "building_id": building["building_id"], "unit_no": "0808", "floor": 8,
        "area_m2": 101.5, "layout": "3室2厅2卫"}, token)
    assert status == 201
    status, owner, _ = stack.request("POST", "/staff/owners", {
        "name": "赵六", "phone": "+8613711112222", "unit_ids": [unit["unit_id"]]}, token)
    assert status == 201 and owner["initial_password"]
    status, units, _ = stack.request("GET", f"/staff/units?community_id={cid}", token=token)
    assert status == 200 and [u["unit_no"] for u in units["items"]] == ["0808"]


def test_a_busy_port_gives_a_clear_message_not_a_traceback(stack):
    busy_port = int(stack.api_url.rsplit(":", 1)[1])
    result = subprocess.run([sys.executable, "-m", "devstack", "--api-port", str(busy_port),
                             "--emulator-port", "1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_stopping_with_ctrl_c_leaves_no_process_behind(tmp_path):
    import os
    import signal
    import time

    from tests.e2e.conftest import free_port

    api_port, emulator_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "devstack", "--api-port", str(api_port), "--emulator-port",
                                str(emulator_port), "--no-demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "local stack is up" in line:
            break
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    time.sleep(0.5)
    for port in (api_port, emulator_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after Ctrl-C"
