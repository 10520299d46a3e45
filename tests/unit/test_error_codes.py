"""The error-code vocabulary (`contract.ERROR_STATUS`) is complete and agrees with the statuses answered."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import chalicelib
from chalicelib.api.contract import ERROR_STATUS
from chalicelib.api.http import status_for
from chalicelib.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_error_class_code_is_listed_with_the_status_it_is_answered_with():
    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    for cls in _subclasses(DomainError):
        if "code" in vars(cls):
            where = f"{cls.__module__}.{cls.__name__}: {cls.code}"
            assert ERROR_STATUS.get(cls.code) == status_for(cls.__new__(cls)), where


def test_every_code_raised_inline_is_listed():
    inline = re.compile(r"""code=["']([a-z_]+)["']""")
    codes = {code for path in (ROOT / "chalicelib").rglob("*.py")
             for code in inline.findall(path.read_text(encoding="utf-8"))}
    assert codes and sorted(codes - set(ERROR_STATUS)) == []
