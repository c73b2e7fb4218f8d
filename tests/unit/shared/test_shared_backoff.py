"""Retry delays grow exponentially up to a cap, with jitter that never reaches zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wallet_shared.platform.backoff import backoff_delay


def _highest(low: float, high: float) -> float:
    return high


def _lowest(low: float, high: float) -> float:
    return low


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    ceilings = [backoff_delay(n, base_s=0.1, cap_s=1.0, uniform=_highest) for n in range(1, 8)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_the_jitter_keeps_at_least_half_the_ceiling() -> None:
    floors = [backoff_delay(n, base_s=0.1, cap_s=1.0, uniform=_lowest) for n in range(1, 6)]
    assert floors == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5])


@given(st.integers(min_value=1, max_value=10_000))
def test_every_delay_lies_between_half_the_ceiling_and_the_ceiling(attempt: int) -> None:
    ceiling = min(5.0, 0.05 * 2 ** min(attempt - 1, 60))
    delay = backoff_delay(attempt)
    assert ceiling / 2 <= delay <= ceiling


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0)
