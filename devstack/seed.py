"""Seed the local stack: the admin (API.md §12) and, unless asked not to, the demo community.

Data survives restarts (`devstack.persist`), so seeding happens once: on a restart the admin and the demo
accounts already exist and are left as they are. Their passwords are stored only as hashes, so the logins
printed at seeding time are kept in the data folder and printed again on later starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chalicelib import deps
from chalicelib.ops.seed import ADMIN_ACCOUNT, DEMO_OWNERS, create_admin, seed_demo

LOGINS_FILE = "logins.json"

Logins = list[tuple[str, str, str]]


def _saved(folder: Path) -> Logins:
    try:
        return [tuple(row) for row in json.loads((folder / LOGINS_FILE).read_text())]  # type: ignore[misc]
    except (OSError, ValueError):
        return []


def _save(folder: Path, logins: Logins) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOGINS_FILE
    path.write_text(json.dumps(logins, ensure_ascii=False))
    path.chmod(0o600)


def seed(folder: Path, with_demo: bool = True) -> Logins:
    """Create whatever of the admin and the demo data is missing; return the logins to print."""
    password = os.environ.get("LOCAL_ADMIN_PASSWORD") or "local-admin-pass"
    admin = create_admin(password)
    if admin is not None:
        logins: Logins = [("admin", ADMIN_ACCOUNT, password)]
    else:  # restored data: the admin from an earlier start, with the password it was given then
        admin = deps.accounts().get_by_login(ADMIN_ACCOUNT)
        if admin is None:
            raise RuntimeError("the admin's phone is taken by another account")
        logins = [row for row in _saved(folder) if row[1] == ADMIN_ACCOUNT] or [("admin", ADMIN_ACCOUNT, "(unchanged)")]
    demo_account = DEMO_OWNERS[0][2]
    if deps.accounts().get_by_login(demo_account) is not None:
        logins += [row for row in _saved(folder) if row[1] != ADMIN_ACCOUNT]
    elif with_demo:
        logins += seed_demo(admin).logins
    _save(folder, logins)
    return logins
