"""Pure helpers shared by the harness and the benchmarks (no I/O, unit-tested in tests/unit/test_bench_harness.py)."""

from __future__ import annotations

import ast
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"  # the documented figures: written only when asked (`--docs`)
RESULTS = ROOT / "bench" / "results" / "benchmarks.md"  # where a plain run writes (not tracked: .gitignore)
MODES = ("quick", "full")
T = TypeVar("T")


def full_mode() -> bool:
    """Whether this run is the full one (`BENCH_MODE=full`): the sizes and repeats the documented figures
    come from. The default, quick mode, runs the same measurements at sizes that finish in minutes."""
    import os

    return os.environ.get("BENCH_MODE", "quick").strip().lower() == "full"


def sized(quick: T, full: T) -> T:
    """`full` in the full run, `quick` otherwise."""
    return full if full_mode() else quick


# --- the harness -------------------------------------------------------------------------------------------

USAGE = """usage: python -m bench [--mode quick|full] [--docs | --out FILE] [name ...]

  --mode   quick (the default; sizes that finish in minutes) or full (the documented sizes and repeats);
           without it, BENCH_MODE decides, else quick (full with --docs)
  --docs   write docs/benchmarks.md (the tracked, documented figures) instead of bench/results/benchmarks.md
  --out    write FILE instead of bench/results/benchmarks.md
  name     run only these benchmarks; the other sections of the file are kept"""


class UsageError(Exception):
    """Bad command line: the message says what is wrong (empty for a plain request for help)."""


@dataclass(frozen=True)
class Options:
    names: tuple[str, ...]
    mode: str  # "quick" or "full": passed to every benchmark as BENCH_MODE
    out: Path
    docs: bool


def parse_args(argv: Sequence[str], env_mode: str | None = None) -> Options:
    """The harness's command line; `env_mode` is BENCH_MODE from the environment, if set. Raises `UsageError`."""
    names: list[str] = []
    mode: str | None = None
    out: Path | None = None
    docs = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            raise UsageError("")
        if arg == "--docs":
            docs = True
        elif arg in ("--mode", "--out") or arg.startswith(("--mode=", "--out=")):
            option, _, value = arg.partition("=")
            if not value:
                if not args:
                    raise UsageError(f"{option} needs a value")
                value = args.pop(0)
            if option == "--mode":
                mode = _checked_mode(value, "--mode")
            else:
                out = Path(value)
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            names.append(arg)
    if docs and out is not None:
        raise UsageError("--docs and --out name two different files: give one")
    if mode is None and env_mode and env_mode.strip():
        mode = _checked_mode(env_mode, "BENCH_MODE")
    return Options(tuple(names), mode or ("full" if docs else "quick"), DOC if docs else (out or RESULTS), docs)


def _checked_mode(value: str, where: str) -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise UsageError(f"{where} must be one of {', '.join(MODES)}, not {value!r}")
    return mode


def header(now_text: str, machine: str, mode: str, docs: bool) -> str:
    """The document's opening: what produced it, how to reproduce it, and that it is generated."""
    where = ("This file holds the documented figures: `make bench-docs` (`python -m bench --docs`, full mode) "
             "rewrites it." if docs else
             "This file is a local result (not tracked): `make bench` writes it in quick mode, `make bench-full` "
             "in full mode; `make bench-docs` writes the documented figures to docs/benchmarks.md.")
    rerun = "make bench-docs" if docs else "make bench"
    return (
        "# Benchmarks\n\n"
        f"{where} Quick mode (`BENCH_MODE=quick`, the default) runs every measurement at sizes that finish in "
        "minutes; full mode (`BENCH_MODE=full`) at the sizes and repeats the documented figures come from. "
        f'`{rerun} BENCH="<name> ..."` reruns only the named benchmarks and keeps the other sections; each '
        "section says which mode produced it. Do not edit by hand: the next run rewrites this file. A benchmark "
        "is a module `bench/<name>.py` with `run() -> str` (markdown); see `bench/__init__.py`.\n\n"
        f"Last run: {now_text} UTC in {mode} mode on {machine}. Figures from a shared development machine are "
        "indicative: compare ratios and counts, not absolute times.\n"
    )


def stamp(now_text: str, machine: str, mode: str, seconds: float) -> str:
    """The line closing a section: when, in which mode and where it was measured."""
    return f"_Measured {now_text} UTC in {mode} mode (`BENCH_MODE={mode}`) on {machine}; took {seconds:.0f} s._"


def defines_run(source: str) -> bool:
    """Whether a module's source has a top-level `def run(...)` (found without importing the module)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # let the run report the syntax error instead of silently skipping the module
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def discover(directory: Path) -> list[str]:
    """Benchmark names in `directory`: modules with a top-level `run()`, helpers (`_name.py`) excluded."""
    return sorted(path.stem for path in directory.glob("*.py")
                  if not path.stem.startswith("_") and defines_run(path.read_text(encoding="utf-8")))


_SECTION = re.compile(r"<!-- bench:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n?", re.S)


def parse_sections(document: str) -> dict[str, str]:
    """The sections of a previously generated document, by benchmark name (bodies without the markers)."""
    return {match["name"]: match["body"] for match in _SECTION.finditer(document)}


def with_heading(name: str, markdown: str) -> str:
    """A benchmark's markdown under a `##` heading: its own if it starts with one, else one from its name."""
    text = markdown.strip()
    if text.startswith("#"):
        first, _, rest = text.partition("\n")
        return "## " + first.lstrip("#").strip() + ("\n" + rest if rest else "")
    return f"## {name.replace('_', ' ').capitalize()}\n\n{text}"


def render_document(header: str, sections: dict[str, str], names: Iterable[str]) -> str:
    """The whole document: the header, then one marked section per name (in the given order)."""
    parts = [header.rstrip() + "\n"]
    for name in names:
        if name in sections:
            parts.append(f"<!-- bench:{name} -->\n{sections[name].strip()}\n<!-- /bench:{name} -->\n")
    return "\n".join(parts)


# --- statistics -------------------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio_of_medians(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """median(subject) / median(baseline): 1.0 means the subject costs nothing over the baseline."""
    base = median(baseline)
    if base <= 0:
        raise ValueError("baseline median must be positive")
    return median(subject) / base


def interleave(count: int) -> list[str]:
    """The run order for two subjects: alternating, and starting with each side equally often."""
    order: list[str] = []
    for index in range(count):
        order.extend(("app", "baseline") if index % 2 == 0 else ("baseline", "app"))
    return order


# --- cold start -------------------------------------------------------------------------------------------

# Top-level modules (or dotted prefixes) that must not be on the cold path of `import app`.
FORBIDDEN: tuple[tuple[str, str, bool], ...] = (
    # (module prefix, what it is, required: False = "if possible")
    ("PIL", "Pillow (images)", True),
    ("reportlab", "reportlab (PDF)", True),
    ("pypdf", "pypdf (PDF)", True),
    ("captcha", "captcha rendering", True),
    ("cryptography.hazmat", "cryptography (native bindings, keys, x509)", True),
    ("zxcvbn", "zxcvbn (password strength)", True),
    ("argon2", "argon2-cffi (password hashing)", False),
    ("moto", "moto (test emulator)", True),
)


def forbidden_present(modules: Iterable[str]) -> dict[str, list[str]]:
    """For each forbidden prefix, the loaded modules under it (an empty list = absent)."""
    loaded = list(modules)
    return {prefix: sorted(m for m in loaded if m == prefix or m.startswith(prefix + "."))
            for prefix, _, _ in FORBIDDEN}


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def third_party(modules: Iterable[tuple[str, str | None]], site_dirs: Sequence[str]) -> list[str]:
    """Names (in load order) of modules whose file lies in site-packages (wherever the virtualenv lives)."""
    return [name for name, path in modules if path and any(_under(path, site) for site in site_dirs)]


def project_modules(modules: Iterable[tuple[str, str | None]], site_dirs: Sequence[str], root: str) -> list[str]:
    """Names of modules from the project's own files (a virtualenv inside the project is not the project)."""
    return [name for name, path in modules
            if path and _under(path, root) and not any(_under(path, site) for site in site_dirs)]


@dataclass
class ImportLine:
    name: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(stderr: str) -> list[ImportLine]:
    """The lines of `python -X importtime` output (`import time: self | cumulative | name`)."""
    lines = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        try:
            self_us, cumulative_us, name = raw.split(":", 1)[1].split("|")
        except ValueError:
            continue
        depth = (len(name) - len(name.lstrip(" "))) // 2
        lines.append(ImportLine(name.strip(), int(self_us), int(cumulative_us), depth))
    return lines


# --- DynamoDB calls per request ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestRecord:
    route: str
    method: str
    role: str
    status: int
    operations: tuple[str, ...]


@dataclass
class RouteRow:
    route: str
    method: str
    role: str
    requests: int = 0
    calls: list[int] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    worst: tuple[str, ...] = ()
    worst_status: int = 0

    @property
    def median_calls(self) -> float:
        return median(self.calls)

    @property
    def max_calls(self) -> int:
        return max(self.calls)

    @property
    def scans(self) -> int:
        return self.operations["Scan"]


def aggregate(records: Iterable[RequestRecord]) -> dict[tuple[str, str, str], RouteRow]:
    """Per (route, method, role): requests seen, calls per request, operations used, statuses."""
    rows: dict[tuple[str, str, str], RouteRow] = {}
    for record in records:
        key = (record.route, record.method, record.role)
        row = rows.setdefault(key, RouteRow(*key))
        row.requests += 1
        row.calls.append(len(record.operations))
        row.operations.update(record.operations)
        row.statuses[record.status] += 1
        if row.requests == 1 or len(record.operations) > len(row.worst):
            row.worst, row.worst_status = record.operations, record.status
    return rows


def not_exercised(routes: Iterable[tuple[str, str]], rows: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
    seen = {(route, method) for route, method, _ in rows}
    return sorted(set(routes) - seen)
