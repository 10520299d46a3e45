"""Integration tests: routes and handlers through `chalice.test.Client` under moto's `mock_aws`, stage `test`.

One emulator for the whole session (creating every table per test would dominate the run); each test makes
its own community, accounts and phone numbers, so tests never see each other's data.
"""

from __future__ import annotations

import pytest
from moto import mock_aws

from tests.integration.helpers import ADMIN_PASSWORD, Api, FreshTokens, World, make_world


def _isolate_writes() -> None:
    """DynamoDB applies each write (and each TransactWriteItems) atomically; moto's in-process backend does not
    under threads. A lock around moto's write operations gives it DynamoDB's isolation, so the concurrency tests
    exercise our conditions, not moto's lack of isolation."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "update_item", "put_item", "delete_item", "batch_write_item"):
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        @functools.wraps(original)
        def isolated(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, isolated)


@pytest.fixture(scope="session")
def aws():
    _isolate_writes()
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
