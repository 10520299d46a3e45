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
DOC = ROOT / "docs" / "benchmarks.md"
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
