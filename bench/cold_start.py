"""Cold start: what `import app` costs over importing the same third-party modules with no project code.

1. A fresh interpreter imports `app` with the `test` stage's environment and reports the modules it loaded.
2. A baseline interpreter imports exactly the third-party modules (site-packages, in load order) the first one
   loaded, and nothing of the project.
3. After one warm-up of each (so both sides read compiled bytecode), RUNS pairs run interleaved; each process
   times its own imports with `perf_counter` (interpreter start-up is the same for both and left out).
The ratio of medians is the project's own overhead (target <= 1.10). A last run with `-X importtime` names the
slowest modules, and the heavy-module check lists forbidden libraries found on the cold path.

Then the first-request path (`bench/_first_request.py`): a fresh process that imports the app and serves the
first authenticated GET /bills, against a floor of bare botocore + HMAC doing the same AWS calls (target ratio
<= 1.3), also from a Lambda-like package with and without precompiled bytecode; and the peak RSS of a fresh
process serving 100 mixed owner and staff requests (target <= 120 MiB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from bench._common import (
    FORBIDDEN,
    ROOT,
    forbidden_present,
    interleave,
    median,
    parse_importtime,
    project_modules,
    ratio_of_medians,
    sized,
    third_party,
)

RUNS = int(os.environ.get("BENCH_COLD_START_RUNS") or sized(9, 21))
FIRST_REQUEST_RUNS = sized(5, 15)
MIXED_RUNS = sized(1, 3)
TARGET_RATIO = 1.10
FIRST_REQUEST_TARGET = 1.3
MIXED_RSS_TARGET_MIB = 120
STAGE = "test"

_APP_SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
before = set(sys.modules)
started = time.perf_counter()
import app
elapsed = time.perf_counter() - started
loaded = [(name, getattr(module, "__file__", None)) for name, module in list(sys.modules.items())
          if name not in before]
print(json.dumps({{"seconds": elapsed, "modules": loaded}}))
"""

_BASELINE_SCRIPT = """
import sys
before = set(sys.modules)
import importlib, json, time
names = json.load(open({names_file!r}))
started = time.perf_counter()
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name)
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "loaded": sorted(set(sys.modules) - before), "failed": failed}}))
"""


def _environment() -> dict[str, str]:
    from devstack import environment

    env = {key: value for key, value in os.environ.items()
           if key not in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")}
    env.update(environment.stage_variables(STAGE))
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("PYTHONPATH", None)
    # Both sides must read compiled bytecode (see the docstring): with this set, the warm-up could not write the
    # project's bytecode and every run would compile it, while site-packages were compiled at install time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(script: str, env: dict[str, str], *flags: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, *flags, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({str(Path(paths[key]).resolve()) for key in ("purelib", "platlib")})


def run() -> str:
    return import_section() + "\n" + first_request_section()


def first_request_section() -> str:
    """The first authenticated request of a fresh process against its floor, and 100 mixed requests' RSS."""
    from bench import _first_request as fr

    stack = fr.Stack()
    stack.start()
    try:
        calibration = fr.measure(fr.APP_SCRIPT, stack.spec(record=True))
        if calibration.statuses != [200]:
            raise RuntimeError(f"first GET /bills answered {calibration.statuses}")
        floor_modules = fr.measure(fr.FLOOR_SCRIPT, stack.spec(calls=calibration.calls)).modules
        with tempfile.TemporaryDirectory(prefix="bench-package-") as scratch:
            source, compiled = Path(scratch) / "source", Path(scratch) / "compiled"
            floor = Path(scratch) / "floor"
            fr.build_package(calibration.modules, source)
            shutil.copytree(source, compiled)
            _compile_tree(compiled)
            fr.build_package(floor_modules, floor, with_app=False)
            _compile_tree(floor)
            samples = _first_requests(fr, stack, calibration.calls, source, compiled, floor)
        mixed = [fr.measure(fr.MIXED_SCRIPT, stack.spec()) for _ in range(MIXED_RUNS)]
    finally:
        stack.stop()
    return _first_request_report(samples, calibration.calls, mixed, stack.mix())


def _compile_tree(directory: Path) -> None:
    sys.path.insert(0, str(ROOT / "infra"))
    from lambda_bytecode import compile_tree

    compile_tree(directory)


def _first_requests(fr, stack, calls, source: Path, compiled: Path, floor: Path) -> dict[str, list]:
    """Interleaved runs of each side (each a fresh process), starting with a different side every run."""
    package = {"python_flags": ("-S",), "env_extra": {"PYTHONDONTWRITEBYTECODE": "1"}}  # only the package's files
    sides = {
        "app": lambda: fr.measure(fr.APP_SCRIPT, stack.spec()),
        "floor": lambda: fr.measure(fr.FLOOR_SCRIPT, stack.spec(calls=calls)),
        "package, no bytecode": lambda: fr.measure(fr.APP_SCRIPT, stack.spec(), root=source, **package),
        "package, bytecode": lambda: fr.measure(fr.APP_SCRIPT, stack.spec(), root=compiled, **package),
        "floor, package, bytecode": lambda: fr.measure(fr.FLOOR_SCRIPT, stack.spec(calls=calls), root=floor,
                                                       **package),
    }
    names = list(sides)
    samples: dict[str, list] = {name: [] for name in names}
    for index in range(FIRST_REQUEST_RUNS):
        for name in names[index % len(names):] + names[:index % len(names)]:
            sample = sides[name]()
            if sample.statuses != [200]:
                raise RuntimeError(f"{name}: first GET /bills answered {sample.statuses}")
            samples[name].append(sample)
    return samples


def _first_request_report(samples: dict[str, list], calls: list, mixed: list, mix: list) -> str:
    cpu = {name: median([s.cpu for s in runs]) for name, runs in samples.items()}
    rss = {name: median([s.rss_mib for s in runs]) for name, runs in samples.items()}
    ratio = cpu["app"] / cpu["floor"]
    packaged = cpu["package, bytecode"] / cpu["floor, package, bytecode"]
    package_gain = cpu["package, no bytecode"] / cpu["package, bytecode"]
    operations = ", ".join(f"{service} {operation}" for service, operation, _ in calls)
    out = [
        "### First request (`import app` + the first authenticated GET /bills)",
        "",
        f"Each side a fresh interpreter, {FIRST_REQUEST_RUNS} interleaved runs; the emulator (moto's server) runs "
        "in the bench process, so the figures are the measured process's alone. The app is called through its "
        "Lambda entry point with an API Gateway proxy event. The floor imports botocore, builds one client per "
        f"service and replays the app's {len(calls)} AWS calls ({operations}), then verifies the token's "
        "HMAC-SHA256. CPU is the process's user+system time from its first line to the answer; RSS is its peak.",
        "",
        "| | CPU (median) | min | max | peak RSS (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in samples.items():
        values = [s.cpu for s in runs]
        out.append(f"| {name} | {cpu[name] * 1000:.0f} ms | {min(values) * 1000:.0f} ms | "
                   f"{max(values) * 1000:.0f} ms | {rss[name]:.1f} MiB |")
    verdict = "meets" if packaged <= FIRST_REQUEST_TARGET else "MISSES"
    out += [
        "",
        f"**Packaged app / packaged floor: {packaged:.2f}** (CPU, medians, both laid out like the Lambda zip with "
        f"bytecode, as Lambda runs them; target <= {FIRST_REQUEST_TARGET}: {verdict} it). From the virtualenv "
        f"(site-packages, both sides): app / floor {ratio:.2f}. Peak RSS app / floor: "
        f"{rss['app'] / rss['floor']:.2f}.",
        "",
        "The package rows run from a directory laid out like the Lambda zip (the app and, at its top level, the "
        "third-party packages the request loads — for the floor only those it loads; no site-packages, `-S`) "
        "on a read-only-like interpreter "
        "(`PYTHONDONTWRITEBYTECODE`): without bytecode, as `chalice package` ships it, every module is compiled "
        "at every cold start; with the unchecked-hash .pyc that `infra/lambda_bytecode.py` adds to the zip, "
        f"none is. **No bytecode / bytecode: {package_gain:.2f}x** the CPU.",
        "",
        f"### Memory: {len(mix)} mixed requests in one fresh process",
        "",
    ]
    peak = max(s.rss_mib for s in mixed)
    statuses = sorted({status for s in mixed for status in s.statuses})
    owner_share = sum(1 for _, _, role, _, _ in mix if role == "owner")
    verdict = "meets" if peak <= MIXED_RSS_TARGET_MIB else "MISSES"
    out += [
        f"Import the app, then {len(mix)} requests through the Lambda entry point ({owner_share} by an owner: "
        f"home, bills, notices, board, messages, payments, repairs, events and new messages; the rest by staff: "
        f"units, bills, repairs, board), {len(mixed)} run(s). Statuses seen: "
        + ", ".join(str(s) for s in statuses) + ".",
        "",
        f"**Peak RSS: {peak:.1f} MiB** (target <= {MIXED_RSS_TARGET_MIB} MiB: {verdict} it); CPU for the whole "
        f"process: {median([s.cpu for s in mixed]):.2f} s.",
    ]
    return "\n".join(out) + "\n"


def import_section() -> str:
    env = _environment()
    app_script = _APP_SCRIPT.format(root=str(ROOT))
    first, _ = _run(app_script, env)
    modules = [(name, str(Path(path).resolve()) if path else None) for name, path in first["modules"]]
    loaded = [name for name, _ in modules]
    external = third_party(modules, _site_dirs())
    project = project_modules(modules, _site_dirs(), str(ROOT))

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(external, handle)
        names_file = handle.name
    try:
        baseline_script = _BASELINE_SCRIPT.format(names_file=names_file)
        warm, _ = _run(baseline_script, env)
        times: dict[str, list[float]] = {"app": [], "baseline": []}
        for side in interleave(RUNS):
            result, _ = _run(app_script if side == "app" else baseline_script, env)
            times[side].append(result["seconds"])
    finally:
        os.unlink(names_file)
    _, importtime = _run(app_script, env, "-X", "importtime")

    ratio = ratio_of_medians(times["app"], times["baseline"])
    found = forbidden_present(loaded)
    top_levels = sorted({name.split(".")[0] for name in external})
    lines = sorted(parse_importtime(importtime), key=lambda line: line.self_us, reverse=True)
    project_names = set(project)
    project_lines = [line for line in lines if line.name in project_names]
    other_lines = [line for line in lines if line.name not in project_names]
    project_self_ms = sum(line.self_us for line in project_lines) / 1000
    only_project = sorted(set(loaded) - set(warm["loaded"]) - project_names)

    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    heavy_required = [p for p, _, required in FORBIDDEN if required and found[p]]
    out = [
        "## Cold start (`import app`)",
        "",
        f"`import app` against a baseline importing the same {len(external)} third-party modules "
        f"({len(top_levels)} packages) with no project code; {RUNS} interleaved runs each, stage `{STAGE}`, "
        "time measured inside each fresh interpreter from the first import to the last.",
        "",
        "| | median | min | max |",
        "|---|---:|---:|---:|",
        f"| `import app` | {median(times['app']) * 1000:.1f} ms | {min(times['app']) * 1000:.1f} ms | "
        f"{max(times['app']) * 1000:.1f} ms |",
        f"| baseline (third-party only) | {median(times['baseline']) * 1000:.1f} ms | "
        f"{min(times['baseline']) * 1000:.1f} ms | {max(times['baseline']) * 1000:.1f} ms |",
        "",
        f"**Ratio of medians: {ratio:.3f}** (target <= {TARGET_RATIO:.2f}: {verdict} it). "
        f"Project modules on the cold path: {len(project)}; their own import time (`-X importtime`, self): "
        f"{project_self_ms:.1f} ms. Modules loaded in all: {len(loaded)} "
        f"(baseline loads {len(warm['loaded'])}; {len(warm['failed'])} failed to import on their own). "
        f"Difference of medians: {(median(times['app']) - median(times['baseline'])) * 1000:.1f} ms.",
        "",
        f"Standard-library modules only the project code pulls in ({len(only_project)}): "
        + (", ".join(f"`{name}`" for name in only_project) or "none") + ".",
        "",
        "Third-party packages on the cold path: " + ", ".join(f"`{name}`" for name in top_levels) + ".",
        "",
        "### Heavy modules on the cold path",
        "",
        "| module | what | rule | present? |",
        "|---|---|---|---|",
    ]
    for prefix, what, required in FORBIDDEN:
        present = found[prefix]
        state = (f"**yes** ({len(present)} modules, e.g. `{present[0]}`)" if present else "no")
        out.append(f"| `{prefix}` | {what} | {'forbidden' if required else 'avoid if possible'} | {state} |")
    out += [
        "",
        ("All forbidden modules are absent." if not heavy_required
         else "**Forbidden modules present:** " + ", ".join(f"`{p}`" for p in heavy_required) + "."),
        "",
        "### Slowest modules (one run with `-X importtime`, by self time)",
        "",
        "| project module | self | cumulative | | other module | self | cumulative |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for mine, other in zip(project_lines[:10], other_lines[:10], strict=False):
        out.append(f"| `{mine.name}` | {mine.self_us / 1000:.1f} ms | {mine.cumulative_us / 1000:.1f} ms | "
                   f"| `{other.name}` | {other.self_us / 1000:.1f} ms | {other.cumulative_us / 1000:.1f} ms |")
    return "\n".join(out) + "\n"
