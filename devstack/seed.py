"""Seed the local stack: the admin (API.md §12) and, unless asked not to, the demo community."""

from __future__ import annotations

import os

from chalicelib.ops.seed import ADMIN_ACCOUNT, create_admin, seed_demo


def seed(with_demo: bool = True) -> list[tuple[str, str, str]]:
    """Create the admin and the demo data; return the logins to print (role, account, password)."""
    password = os.environ.get("LOCAL_ADMIN_PASSWORD") or "local-admin-pass"
    admin = create_admin(password)
    if admin is None:
        raise RuntimeError("the admin account already exists in a fresh emulator")
    logins = [("admin", ADMIN_ACCOUNT, password)]
    if with_demo:
        logins += seed_demo(admin).logins
    return logins
