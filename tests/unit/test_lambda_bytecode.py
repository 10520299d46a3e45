"""The Lambda package's precompiled bytecode (infra/lambda_bytecode.py): the interpreter really loads it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra"))

from lambda_bytecode import add_bytecode, check_runtime, runtime_of

SOURCES = {
    "app.py": "from pkg import answer\nVALUE = answer()\n",
    "pkg/__init__.py": "from pkg.inner import answer\n",
    "pkg/inner.py": "def answer():\n    return 'compiled'\n",
    "pkg/data.txt": "not python\n",
}


def _sample_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in SOURCES.items():
            info = zipfile.ZipInfo(name, date_time=(1999, 1, 1, 0, 0, 0))  # as old as a zip's timestamps get
            info.external_attr = 0o100644 << 16
            archive.writestr(info, text)


def _import_value(directory: Path) -> subprocess.CompletedProcess[str]:
    """Import the sample app in a fresh interpreter that may not write bytecode (as on read-only /var/task)."""
    return subprocess.run([sys.executable, "-B", "-c", "import app; print(app.VALUE)"],
                          cwd=directory, capture_output=True, text=True, check=False, timeout=120,
                          env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"})


def test_every_module_of_the_zip_gets_bytecode_the_interpreter_loads(tmp_path):
    archive = tmp_path / "deployment.zip"
    _sample_zip(archive)
    before = {info.filename: (info.external_attr, zipfile.ZipFile(archive).read(info.filename))
              for info in zipfile.ZipFile(archive).infolist()}

    assert add_bytecode(archive) == 3

    with zipfile.ZipFile(archive) as done:
        tag = sys.implementation.cache_tag
        assert {name for name in done.namelist() if name.endswith(".pyc")} == {
            f"__pycache__/app.{tag}.pyc", f"pkg/__pycache__/__init__.{tag}.pyc", f"pkg/__pycache__/inner.{tag}.pyc"}
        assert all((info.external_attr, done.read(info.filename)) == before[info.filename]
                   for info in done.infolist() if info.filename in before)  # the original entries, untouched
        header = done.read(f"pkg/__pycache__/inner.{tag}.pyc")[:8]
        assert int.from_bytes(header[4:8], "little") == 0b01  # PEP 552: hash-based, source never checked
        unpacked = tmp_path / "task"
        done.extractall(unpacked)
    # The sources now say something else: only the zip's bytecode can still answer "compiled". An unchecked
    # .pyc is used whatever the source's timestamp or content (a checked one would be recompiled here).
    (unpacked / "pkg" / "inner.py").write_text("def answer():\n    return 'source'\n")
    loaded = _import_value(unpacked)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["compiled"]


def test_without_the_step_the_source_is_what_runs(tmp_path):
    """The control: the same check on the untouched zip sees the edited source (the test above can fail)."""
    archive = tmp_path / "deployment.zip"
    _sample_zip(archive)
    unpacked = tmp_path / "task"
    zipfile.ZipFile(archive).extractall(unpacked)
    (unpacked / "pkg" / "inner.py").write_text("def answer():\n    return 'source'\n")
    loaded = _import_value(unpacked)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == "source"


def test_bytecode_is_compiled_only_for_this_interpreters_runtime():
    check_runtime(runtime_of())
    with pytest.raises(ValueError, match=r"python3\.99"):
        check_runtime("python3.99")
