"""The benchmark harness: `python -m bench [--mode quick|full] [--docs | --out FILE] [name ...]`.

By default it runs every benchmark in quick mode and writes bench/results/benchmarks.md (not tracked); only
`--docs` writes docs/benchmarks.md, the documented figures (full mode unless told otherwise). The mode reaches
each benchmark as BENCH_MODE (`bench._common.sized`) and is named in each section it produced.

Each benchmark runs in a subprocess (`python -m bench --child <name> <out>`) so that one benchmark's environment,
mocks and imports never leak into another's, and a crash is reported instead of ending the run. Naming some
benchmarks reruns only those: the other sections of the output file are kept as they were.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    ROOT,
    USAGE,
    UsageError,
    discover,
    header,
    parse_args,
    parse_sections,
    render_document,
    stamp,
    with_heading,
)

BENCH_DIR = Path(__file__).resolve().parent
# A benchmark that takes longer is reported as failed (a hung emulator); BENCH_TIMEOUT (seconds) raises it.
TIMEOUT_SECONDS = int(os.environ.get("BENCH_TIMEOUT") or 30 * 60)
LOG_TAIL_LINES = 25


def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def run_child(name: str, out: str) -> int:
    """In the child process: import the benchmark, run it, write its markdown to `out`."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    module = importlib.import_module(f"bench.{name}")
    markdown = module.run()
    if not isinstance(markdown, str):
        raise TypeError(f"bench.{name}.run() returned {type(markdown).__name__}, not markdown text")
    Path(out).write_text(markdown, encoding="utf-8")
    return 0


def now_text() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"


def run_one(name: str, mode: str) -> tuple[bool, str]:
    """Run one benchmark in a subprocess, in `mode`: (succeeded, section markdown)."""
    started = time.monotonic()
    env = {**os.environ, "BENCH_MODE": mode}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        out, log = Path(tmp) / "out.md", Path(tmp) / "log.txt"
        with log.open("w") as log_file:
            try:
                code = subprocess.run([sys.executable, "-m", "bench", "--child", name, str(out)], cwd=ROOT,
                                      stdout=log_file, stderr=subprocess.STDOUT, timeout=TIMEOUT_SECONDS,
                                      env=env, check=False).returncode
            except subprocess.TimeoutExpired:
                code = -1
        elapsed = time.monotonic() - started
        closing = stamp(now_text(), machine(), mode, elapsed)
        if code == 0 and out.exists():
            return True, with_heading(name, out.read_text(encoding="utf-8")) + f"\n\n{closing}\n"
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        reason = "timed out" if code == -1 else f"exit status {code}"
        sys.stderr.write(f"bench {name} FAILED ({reason}):\n" + "\n".join(tail) + "\n")
        body = "\n".join(tail)
        return False, (f"## {name.replace('_', ' ').capitalize()}\n\n**FAILED** ({reason}). Last lines of its "
                       f"output:\n\n```text\n{body}\n```\n\n{closing}\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return run_child(argv[1], argv[2])
    available = discover(BENCH_DIR)
    try:
        options = parse_args(argv, os.environ.get("BENCH_MODE"))
    except UsageError as error:
        if str(error):
            sys.stderr.write(f"{error}\n")
        print(f"{USAGE}\n\nbenchmarks: {', '.join(available)}")
        return 2 if str(error) else 0
    unknown = [name for name in options.names if name not in available]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}\n")
        return 2
    out = options.out if options.out.is_absolute() else Path.cwd() / options.out
    sections = parse_sections(out.read_text(encoding="utf-8")) if out.exists() else {}
    failed = []
    print(f"bench: {options.mode} mode, writing {_shown(out)}", flush=True)
    for name in options.names or available:
        print(f"bench: running {name} ...", flush=True)
        ok, sections[name] = run_one(name, options.mode)
        if not ok:
            failed.append(name)
        print(f"bench: {name} {'done' if ok else 'FAILED'}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_document(header(now_text(), machine(), options.mode, options.docs), sections, available),
                   encoding="utf-8")
    print(f"bench: wrote {_shown(out)} ({options.mode} mode)" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
