"""The benchmark harness's pure parts: discovery, document splicing, statistics, call attribution, and where a
run writes in which mode."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench._common import (
    DOC,
    RESULTS,
    ROOT,
    RequestRecord,
    UsageError,
    aggregate,
    defines_run,
    discover,
    forbidden_present,
    header,
    interleave,
    median,
    not_exercised,
    parse_args,
    parse_importtime,
    parse_sections,
    project_modules,
    ratio_of_medians,
    render_document,
    stamp,
    third_party,
    with_heading,
)


def test_median_odd_and_even_counts():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        median([])


def test_ratio_of_medians_ignores_outliers():
    assert ratio_of_medians([1.1, 1.1, 9.0], [1.0, 1.0, 0.1]) == pytest.approx(1.1)


def test_interleave_alternates_and_balances_who_goes_first():
    order = interleave(4)
    assert order == ["app", "baseline", "baseline", "app", "app", "baseline", "baseline", "app"]
    assert order.count("app") == order.count("baseline") == 4


def test_discover_finds_modules_with_a_top_level_run_only(tmp_path):
    (tmp_path / "billing_run.py").write_text("def run():\n    return 'x'\n")
    (tmp_path / "helpers.py").write_text("def other():\n    pass\n")
    (tmp_path / "_private.py").write_text("def run():\n    pass\n")
    (tmp_path / "nested.py").write_text("class A:\n    def run(self):\n        pass\n")
    assert discover(tmp_path) == ["billing_run"]


def test_defines_run_keeps_a_broken_module_so_its_failure_is_reported():
    assert defines_run("def run(:\n")


def test_sections_survive_a_rerun_of_another_benchmark():
    first = render_document("# Benchmarks\n", {"a": "## A\n\none\n", "b": "## B\n\ntwo\n"}, ["a", "b"])
    sections = parse_sections(first)
    sections["b"] = "## B\n\nthree\n"
    second = render_document("# Benchmarks\n", sections, ["a", "b"])
    assert "one" in second and "three" in second and "two" not in second
    assert second.index("## A") < second.index("## B")


def test_sections_of_removed_benchmarks_are_dropped():
    document = render_document("# Benchmarks\n", {"a": "## A\n", "gone": "## Gone\n"}, ["a"])
    assert "Gone" not in document


def test_with_heading_keeps_the_benchmarks_own_title_as_a_section():
    assert with_heading("billing_run", "# Billing\n\nbody").startswith("## Billing\n")
    assert with_heading("billing_run", "body").startswith("## Billing run\n\nbody")


def test_third_party_and_project_modules_with_the_virtualenv_inside_the_project():
    site = "/repo/.venv/lib/site-packages"
    modules = [("botocore", f"{site}/botocore/__init__.py"), ("json", "/usr/lib/json/__init__.py"),
               ("app", "/repo/app.py"), ("sys", None), ("other", "/repo2/other.py")]
    assert third_party(modules, [site]) == ["botocore"]
    assert project_modules(modules, [site], "/repo") == ["app"]


def test_forbidden_present_matches_packages_and_their_submodules_only():
    found = forbidden_present(["PIL.Image", "PIL", "cryptography", "captchas"])
    assert found["PIL"] == ["PIL", "PIL.Image"]
    assert found["cryptography.hazmat"] == []
    assert found["captcha"] == []


def test_parse_importtime_reads_self_and_cumulative_times():
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       120 |        120 |     chalicelib.errors\n"
              "import time:      1867 |      77874 | app\n")
    lines = parse_importtime(stderr)
    assert [(line.name, line.self_us, line.cumulative_us) for line in lines] == [
        ("chalicelib.errors", 120, 120), ("app", 1867, 77874)]


def test_aggregate_attributes_calls_per_route_method_and_role():
    records = [RequestRecord("/me", "GET", "owner", 200, ("GetItem", "GetItem")),
               RequestRecord("/me", "GET", "owner", 200, ("GetItem",)),
               RequestRecord("/me", "GET", "owner", 401, ()),
               RequestRecord("/me", "GET", "staff", 200, ("GetItem", "Query", "Scan"))]
    rows = aggregate(records)
    owner = rows[("/me", "GET", "owner")]
    assert (owner.requests, owner.median_calls, owner.max_calls) == (3, 1, 2)
    assert owner.operations["GetItem"] == 3 and owner.scans == 0
    assert owner.worst == ("GetItem", "GetItem")
    assert rows[("/me", "GET", "staff")].scans == 1


def test_routes_without_requests_are_not_exercised():
    rows = aggregate([RequestRecord("/me", "GET", "owner", 200, ("GetItem",))])
    assert not_exercised([("/me", "GET"), ("/health", "GET")], rows) == [("/health", "GET")]


# -- where a run writes, and in which mode ----------------------------------------------------------------------

def test_a_plain_run_is_quick_and_writes_the_untracked_results_file():
    options = parse_args([])
    assert (options.mode, options.out, options.docs, options.names) == ("quick", RESULTS, False, ())
    assert RESULTS != DOC


def test_only_docs_writes_the_documented_figures_and_in_full_mode_by_default():
    assert (parse_args(["--docs"]).out, parse_args(["--docs"]).mode) == (DOC, "full")
    assert parse_args(["--docs", "--mode", "quick"]).mode == "quick"  # allowed, and the sections will say so
    assert parse_args(["--mode=full"]).out == RESULTS  # full mode alone does not touch the docs


def test_the_mode_comes_from_the_flag_then_bench_mode_then_quick():
    assert parse_args([], env_mode="full").mode == "full"
    assert parse_args(["--mode", "quick"], env_mode="full").mode == "quick"
    assert parse_args([], env_mode="  ").mode == "quick"


def test_names_and_another_output_file(tmp_path):
    options = parse_args(["photo_processing", "--out", str(tmp_path / "x.md"), "cold_start"])
    assert options.names == ("photo_processing", "cold_start") and options.out == tmp_path / "x.md"


@pytest.mark.parametrize(("argv", "env_mode"), [
    (["--mode", "fast"], None), ([], "FULLER"), (["--mode"], None), (["--docs", "--out", "x.md"], None),
    (["--bogus"], None), (["--help"], None),
])
def test_bad_command_lines_are_refused(argv, env_mode):
    with pytest.raises(UsageError):
        parse_args(argv, env_mode)


def test_the_header_and_each_section_name_the_mode():
    local, documented = (header("2026-12-02 14:00", "Linux", mode, docs) for mode, docs in (("quick", False),
                                                                                              ("full", True)))
    assert "in quick mode" in local and "not tracked" in local
    assert "in full mode" in documented and "documented figures" in documented and "not tracked" not in documented
    line = stamp("2026-12-02 14:00", "Linux x86_64", "full", 12.4)
    assert "full mode" in line and "BENCH_MODE=full" in line and "12 s" in line


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_results_file_is_not_tracked():
    ignored = subprocess.run(["git", "check-ignore", "-q", str(RESULTS.relative_to(ROOT))], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "bench/results/benchmarks.md must be ignored by git"
    docs = subprocess.run(["git", "check-ignore", "-q", str(Path(DOC).relative_to(ROOT))], cwd=ROOT, check=False)
    assert docs.returncode == 1  # the documented figures stay tracked


def test_a_plain_run_writes_only_the_results_file_and_keeps_the_docs(tmp_path, monkeypatch, capsys):
    """The harness's main loop with the benchmark subprocess stubbed: a plain run lands in the results file (here
    moved under tmp_path), names the mode, and leaves docs/benchmarks.md byte for byte as it was."""
    import bench.__main__ as harness
    import bench._common as common

    results = tmp_path / "results" / "benchmarks.md"
    monkeypatch.setattr(common, "RESULTS", results)
    monkeypatch.delenv("BENCH_MODE", raising=False)
    modes = []

    def fake_run_one(name, mode):
        modes.append(mode)
        return True, f"## {name}\n\nbody\n\n{stamp('2026-12-02 14:00', 'here', mode, 1)}\n"

    monkeypatch.setattr(harness, "run_one", fake_run_one)
    docs_before = DOC.read_bytes() if DOC.exists() else None
    assert harness.main(["photo_processing"]) == 0
    assert modes == ["quick"]
    written = results.read_text(encoding="utf-8")
    assert "in quick mode" in written and "<!-- bench:photo_processing -->" in written
    assert str(results) in capsys.readouterr().out
    assert (DOC.read_bytes() if DOC.exists() else None) == docs_before
