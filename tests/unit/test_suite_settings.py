"""The suite's Hypothesis settings hold up on a loaded machine, where generating and running examples is slow."""

from __future__ import annotations

import time

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

# Sleeping stands in for a CPU shared with other work: it only ever makes a step slower, never faster.
# Hypothesis' default allows 1 s of generation over its first examples (the very first is not counted); four
# examples of 0.6 s each go over it.
SLOW_DRAW_SECONDS = 0.6
SLOW_EXAMPLE_SECONDS = 0.25  # over Hypothesis' default 200 ms deadline


def _slowly(value: int) -> int:
    time.sleep(SLOW_DRAW_SECONDS)
    return value


def test_slow_generation_does_not_fail_a_property_test():
    seen = []

    @settings(max_examples=4, phases=[Phase.generate], database=None)
    @given(st.builds(_slowly, st.integers()))
    def property_test(value):
        seen.append(value)

    property_test()
    assert len(seen) == 4


def test_a_slow_example_does_not_fail_a_property_test():
    seen = []

    @settings(max_examples=2, phases=[Phase.generate], database=None)
    @given(st.integers())
    def property_test(value):
        time.sleep(SLOW_EXAMPLE_SECONDS)
        seen.append(value)

    property_test()
    assert len(seen) == 2
