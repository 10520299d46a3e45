"""The suite's own sign-ins hold up on a slow machine: a token kept across tests is renewed, never expires."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from chalicelib import deps
from chalicelib.domain.ids import utcnow
from tests.integration import helpers
from tests.integration.helpers import ADMIN_PASSWORD, FreshTokens, make_world


@pytest.fixture
def travel(monkeypatch):
    """Move every clock that ages an access token forward: the app's (token signing and checking, sessions) and
    the suite's own — as if the run had been that much slower."""
    ahead = [timedelta()]

    def forward(minutes: int) -> None:
        shift = ahead[0] = timedelta(minutes=minutes)
        monkeypatch.setattr(helpers, "_monotonic", lambda: time.monotonic() + shift.total_seconds())

    with deps.override(utc_clock=lambda: lambda: utcnow() + ahead[0]):
        yield forward


def test_sign_ins_kept_across_tests_outlive_the_access_token_lifetime(api, travel):
    # given the admin and a world's people signed in (tokens issued now; the session fixtures are not used
    # here, so the clocks this test moves never touch them)
    admin = FreshTokens(api, "admin", ADMIN_PASSWORD)
    world = make_world(api, admin)
    owner = world.owner()
    assert api.get("/me", token=owner.token).status == 200
    # when 16 minutes pass: longer than an access token lives (15)
    travel(minutes=16)
    # then every one of them still gets in
    assert api.get("/me", token=owner.token).status == 200
    assert api.get("/me", token=world.staff.token).status == 200
    units = api.get(f"/staff/units?community_id={world.community_id}", token=world.admin)
    assert units.status == 200, units.body
    # and so they do much later still
    travel(minutes=60)
    assert api.get("/me", token=owner.token).status == 200
    assert api.get("/me", token=admin.token).status == 200
