"""`make test-contended`'s runner: the command's status comes back and the busy loops never outlive it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = [sys.executable, "-m", "tests.contend", "--workers", "2", "--"]
GONE_WITHIN_SECONDS = 120  # generous: only a hang would take this long, never load


def _spinner_pids(stderr_line: str) -> list[int]:
    found = re.search(r"busy processes beside the command: ([\d ]+)", stderr_line)
    assert found, stderr_line
    return [int(pid) for pid in found.group(1).split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it no longer runs
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_the_commands_status_comes_back_and_the_busy_loops_stop():
    done = subprocess.run([*RUNNER, sys.executable, "-c", "import sys; sys.exit(3)"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 3, done.stderr
    assert _wait_gone(_spinner_pids(done.stderr)) == []


def test_busy_loops_stop_even_when_the_runner_is_killed_outright():
    # the command waits until the runner is gone (then it is an orphan and leaves too)
    waits = "import os, time\nparent = os.getppid()\nwhile os.getppid() == parent:\n    time.sleep(0.1)"
    runner = subprocess.Popen([*RUNNER, sys.executable, "-c", waits], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True)
    try:
        pids = _spinner_pids(runner.stderr.readline())
        assert all(_alive(p) for p in pids)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        assert _wait_gone(pids) == []
    finally:
        runner.kill()
        runner.stderr.close()
