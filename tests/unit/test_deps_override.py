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
