"""Integration tests: routes and handlers through `chalice.test.Client` under moto's `mock_aws`, stage `test`.

One emulator for the whole session (creating every table per test would dominate the run); each test makes
its own community, accounts and phone numbers, so tests never see each other's data.
"""

from __future__ import annotations

import pytest
from moto import mock_aws

from devstack.isolation import isolate_writes
from tests.integration.helpers import ADMIN_PASSWORD, Api, FreshTokens, World, make_world


@pytest.fixture(scope="session")
def aws():
    isolate_writes()
    with mock_aws():
        from chalicelib import deps
        from devstack.provision import provision

        deps.reset()
        provision()
        from chalicelib.ops.seed import create_admin

        create_admin(ADMIN_PASSWORD)
        yield
        deps.reset()


@pytest.fixture(scope="session")
def api(aws):
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        yield Api(client)


@pytest.fixture(scope="session")
def admin(api) -> FreshTokens:
    """The admin, signed in once for the session; its token is renewed before it expires."""
    return FreshTokens(api, "admin", ADMIN_PASSWORD)


@pytest.fixture
def admin_token(admin) -> str:
    """An admin access token for one test (fresh for at least half its lifetime)."""
    return admin.token


@pytest.fixture
def world(api, admin) -> World:
    return make_world(api, admin)
