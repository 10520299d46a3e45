"""Precompiled bytecode for the Lambda package (standard library only; no CDK, so unit tests import it).

`chalice package` zips sources only, and /var/task is read-only: without .pyc in the zip every cold start
compiles every module it imports (the app's and its dependencies') again. The .pyc added here are
*unchecked-hash* ones (PEP 552): the interpreter loads them without comparing them to the source's
modification time (a zip's timestamps would not match) nor hashing the source. They must be compiled by the
runtime's own minor version: another version's .pyc carries another cache tag and is silently ignored.
"""

from __future__ import annotations

import compileall
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

LAMBDA_ROOT = "/var/task"  # where Lambda unpacks the zip: the path tracebacks name


def runtime_of(python: tuple[int, int] | None = None) -> str:
    """The Lambda runtime name for a Python version (default: this interpreter's), e.g. `python3.11`."""
    major, minor = python or sys.version_info[:2]
    return f"python{major}.{minor}"


def check_runtime(runtime: str) -> None:
    """Refuse to compile for a runtime this interpreter is not: its .pyc would be dead weight in the zip."""
    if runtime != runtime_of():
        raise ValueError(f"the package declares runtime {runtime} but is being built with {runtime_of()}: "
                         f"build it with that Python so its bytecode can be precompiled")


def compile_tree(directory: Path) -> bool:
    """Compile every .py under `directory` into its `__pycache__` (unchecked-hash .pyc). False if some file
    did not compile (it is left as source: the interpreter will compile it, as without this step)."""
    return bool(compileall.compile_dir(str(directory), ddir=LAMBDA_ROOT, quiet=2, workers=1,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH))


def add_bytecode(zip_path: Path) -> int:
    """Add the .pyc of every .py in the zip (compiled by this interpreter) to the zip itself; returns how many.

    The zip's own entries are kept byte for byte (Chalice sets their permissions); only new entries are added.
    """
    with tempfile.TemporaryDirectory(prefix="pyc-") as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(zip_path) as archive:
            present = set(archive.namelist())
            sources = [name for name in present if name.endswith(".py")]
            for name in sources:
                archive.extract(name, root)
        compile_tree(root)
        compiled = sorted(path for path in root.rglob("__pycache__/*.pyc")
                          if path.relative_to(root).as_posix() not in present)
        with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in compiled:
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o100644 << 16  # a regular file, readable by the runtime's user
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return len(compiled)
