"""The local stack as a newcomer meets it: `make run`, then HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.conftest import REQUEST_TIMEOUT, ROOT, StackApi, admin_login, launch, port_served, sign_in
from tests.integration.helpers import make_world

pytestmark = pytest.mark.e2e


def test_stack_serves_health_with_a_request_id(stack):
    status, body, headers = stack.request("GET", "/health")
    assert status == 200 and body == {"status": "ok"}
    assert headers["x-request-id"]


def test_banner_prints_the_demo_logins(stack):
    banner = "".join(stack.output)
    assert "admin" in banner and "zhangwei" in banner and "lina" in banner


def test_banner_says_which_payment_providers_are_emulated(stack):
    banner = "".join(stack.output)
    assert "  Providers  " in banner and "sandbox stands in" in banner


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


def test_unknown_path_is_404_not_found_and_does_not_echo_the_token(stack):
    status, raw, headers = stack.request_raw("GET", "/no/such/path", token="secret-bearer-value")
    assert status == 404 and json.loads(raw) == {"code": "not_found", "message": "Not found"}
    assert b"secret-bearer-value" not in raw
    assert headers["content-type"].startswith("application/json")


def test_chinese_text_comes_back_as_raw_utf8(stack):
    token = admin_login(stack)
    for method, path, body in (("POST", "/staff/communities", {"name": "翠湖苑", "address": "杭州"}),
                               ("GET", "/me", None)):  # a view's JSON response, and a view's plain dict
        status, raw, headers = stack.request_raw(method, path, body, token)
        assert status in (200, 201) and "charset=utf-8" in headers["content-type"]
        assert ("翠湖苑" if body else "管理员").encode() in raw and b"\\u" not in raw


def _post_at_once(stack, token: str, prefix: str, count: int = 10) -> list[int]:
    barrier, statuses = threading.Barrier(count), []

    def post(n: int) -> None:
        barrier.wait()
        statuses.append(stack.request("POST", "/board/posts", {"category": "general", "title": f"{prefix}{n}",
                                                              "body": "大家好"}, token)[0])

    threads = [threading.Thread(target=post, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(statuses)


def test_concurrent_board_posts_stop_at_the_hourly_limit(stack):
    # Several owners, each posting 10 times at once: without write isolation 6 got through now and then.
    world = make_world(StackApi(stack), admin_login(stack))
    for round_no in range(3):
        owner = world.owner()
        prefix = f"并发{round_no}-"
        assert _post_at_once(stack, owner.token, prefix) == [201] * 5 + [429] * 5
        listed = stack.request("GET", "/board/posts?limit=50", token=owner.token)[1]["items"]
        assert len([p for p in listed if p["title"].startswith(prefix)]) == 5


def _signed_callback(stack, secret: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    raw = json.dumps({"payment_id": "pay_unknown", "provider_txn_id": "sbx-1", "amount_cents": 100,
                      "status": "succeeded"}).encode()
    request = urllib.request.Request(stack.api_url + "/payments/callbacks/sandbox", data=raw, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Sandbox-Signature": hmac.new(secret, raw, hashlib.sha256).hexdigest()})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_settings_given_to_make_run_reach_the_api_and_a_killed_stack_frees_its_ports(tmp_path):
    settings = launch(tmp_path, "--no-demo", SMS_PER_IP_PER_HOUR="2", LOGIN_FAILURES_PER_IP_BEFORE_CAPTCHA="1",
                      CAPTCHA_TEST_ANSWER="ZZ9", SANDBOX_PAYMENT_SECRET="caller-secret")
    try:
        # The stage config says 20 texts per IP per hour: the caller's 2 must win.
        sent = []
        for _ in range(3):
            login = settings.request("POST", "/auth/login", {"account": "admin", "password": "local-admin-pass"})[1]
            sent.append(settings.request("POST", "/auth/sms", {"challenge_id": login["challenge_id"]})[0])
        assert sent == [202, 202, 429]
        # One failure from this address is enough before a captcha is asked (the stage config says 20).
        wrong = {"password": "not the password at all"}
        assert settings.request("POST", "/auth/login", {"account": "nobody1", **wrong})[0] == 401
        asked = settings.request("POST", "/auth/login", {"account": "nobody2", **wrong})[1]
        assert asked["code"] == "captcha_required"
        _, captcha, _ = settings.request("GET", "/auth/captcha")
        answered = settings.request("POST", "/auth/login", {"account": "nobody2", **wrong,
                                                           "captcha_id": captcha["captcha_id"],
                                                           "captcha_answer": "ZZ9"})[1]
        assert answered["code"] == "invalid_credentials"  # the caller's captcha answer was accepted
        assert _signed_callback(settings, b"local-sandbox-secret")[1]["code"] == "invalid_signature"
        assert _signed_callback(settings, b"caller-secret")[1].get("code") != "invalid_signature"
    finally:
        settings.process.kill()  # SIGKILL: nothing can clean up, so nothing may be left holding a port
        settings.process.wait()
    assert not port_served(settings.api_port) and not port_served(settings.emulator_port)


def test_data_survives_a_restart_and_fresh_starts_empty(tmp_path, record_property):
    first = launch(tmp_path, "--no-demo")
    token = sign_in(first, "admin", "local-admin-pass", "+8613800000000")["access_token"]
    status, community, _ = first.request("POST", "/staff/communities", {"name": "重启小区", "address": "苏州"}, token)
    assert status == 201
    cid = community["community_id"]
    building = first.request("POST", f"/staff/communities/{cid}/buildings", {"name": "1号楼"}, token)[1]
    assert first.request("POST", "/staff/units", {"community_id": cid, "building_id": building["building_id"],
                                                 "unit_no": "0101", "floor": 1, "area_m2": 80,
                                                 "layout": "2室"}, token)[0] == 201
    units = f"/staff/units?community_id={cid}"
    seconds = first.stop(signal.SIGTERM, limit=60)
    record_property("stop_seconds_sigterm", round(seconds, 1))
    print(f"\nstack stopped on SIGTERM in {seconds:.1f} s")
    assert first.process.returncode == 0
    assert not port_served(first.api_port) and not port_served(first.emulator_port)

    second = launch(tmp_path, "--no-demo")
    try:
        listed = second.request("GET", units, token=token)  # the session survived too
        assert listed[0] == 200 and [u["unit_no"] for u in listed[1]["items"]] == ["0101"]
        assert "admin      admin       local-admin-pass" in "".join(second.output)
    finally:
        seconds = second.stop(signal.SIGINT, limit=60)
    record_property("stop_seconds_sigint", round(seconds, 1))
    print(f"stack stopped on Ctrl-C in {seconds:.1f} s")

    fresh = launch(tmp_path, "--no-demo", "--fresh")
    try:
        assert fresh.request("GET", units, token=token)[0] == 401
        token = sign_in(fresh, "admin", "local-admin-pass", "+8613800000000")["access_token"]
        assert fresh.request("GET", units, token=token)[1]["code"] == "not_found"  # no such community now
    finally:
        fresh.stop()


def test_a_second_stack_on_the_same_data_folder_is_refused(stack):
    result = subprocess.run([sys.executable, "-m", "devstack", "--api-port", "1", "--emulator-port", "1",
                             "--data-dir", str(stack.data_dir)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "another local stack" in result.stderr


def test_the_console_is_quiet(stack):
    stack.request("GET", "/health")
    admin_login(stack)
    time.sleep(0.5)
    console = "".join(stack.output)
    for noise in ('"GET /health', "Found credentials", '"_aws"', "CloudWatchMetrics"):
        assert noise not in console
