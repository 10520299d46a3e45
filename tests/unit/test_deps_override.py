"""`deps.override`: a test puts a fake in place of a provider for a block, and everything is back after it."""

from __future__ import annotations

import pytest

from chalicelib import deps


def test_an_override_answers_inside_the_block_only():
    real = deps.epoch_clock()
    with deps.override(epoch_clock=lambda: lambda: 42.0):
        assert deps.epoch_clock()() == 42.0
        with deps.override(epoch_clock=lambda: lambda: 7.0):
            assert deps.epoch_clock()() == 7.0
        assert deps.epoch_clock()() == 42.0
    assert deps.epoch_clock() is real


def test_an_override_is_undone_when_the_block_fails():
    with pytest.raises(RuntimeError), deps.override(utc_clock=lambda: "fake"):
        raise RuntimeError("boom")
    assert deps.utc_clock() != "fake"


def test_overriding_a_provider_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="no such providers"), deps.override(no_such_service=lambda: None):
        pass


def test_rebuilt_builds_one_instance_from_the_collaborators_given_and_forgets_it_after():
    from chalicelib.domain.auth import AuthConfig

    strict = AuthConfig(1, 1, None)
    with deps.rebuilt("auth_config") as config:
        assert deps.auth_config() is config
    with deps.rebuilt("auth_service", auth_config=strict) as service, deps.override():
        assert deps.auth_service() is service and deps.auth_config() is strict
    assert deps.auth_config() is not strict
    with pytest.raises(ValueError, match="no such provider"), deps.rebuilt("no_such_service"):
        pass
