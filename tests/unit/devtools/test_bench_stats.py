"""The benchmark's figures: percentiles, the measured window, the open-loop schedule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wallet_devtools.bench.stats import (
    CANCELLED,
    OK,
    Sample,
    Window,
    arrival_schedule,
    per_second,
    percentile,
    summarise,
)


def test_percentiles_are_nearest_rank() -> None:
    hundred = [float(n) for n in range(100, 0, -1)]
    assert percentile(hundred, 0.50) == 50.0
    assert percentile(hundred, 0.95) == 95.0
    assert percentile(hundred, 0.99) == 99.0
    assert percentile(hundred, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_a_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0.01, 1.0))
def test_a_percentile_is_one_of_the_samples_and_grows_with_the_share(
    samples: list[float], share: float
) -> None:
    value = percentile(samples, share)
    assert value in samples
    assert percentile(samples, min(1.0, share + 0.1)) >= value


def test_latencies_come_from_what_began_in_the_window_throughput_from_what_ended_in_it() -> None:
    window = Window(10.0, 20.0)
    samples = [
        Sample(9.0, 10.5, OK),  # warm-up request: counted in throughput, not in latency
        Sample(11.0, 11.1, OK),
        Sample(12.0, 12.3, CANCELLED),
        Sample(13.0, 13.0, "error:500"),
        Sample(14.0, 14.0, "error:500"),
        Sample(19.5, 21.0, OK),  # finished after the window: latency, no throughput
    ]
    summary = summarise("cross_shard", samples, window, baseline_tps=1.0)
    assert summary.count == 2
    assert summary.throughput == pytest.approx(0.2)
    assert summary.ratio == pytest.approx(0.2)
    assert summary.errors == 2
    assert summary.error_kinds == {"error:500": 2}
    assert summary.cancelled == 1
    assert summary.p50_ms == pytest.approx(300.0)
    assert summary.max_ms == pytest.approx(1500.0)


def test_a_phase_without_answers_or_baseline_has_no_latency_and_no_ratio() -> None:
    summary = summarise("deposits", [Sample(1.0, 1.0, "error:ClientError")], Window(0, 2), None)
    assert summary.p99_ms is None
    assert summary.ratio is None
    assert summary.throughput == 0.0


def test_the_schedule_spaces_arrivals_evenly_and_stays_inside_the_duration() -> None:
    schedule = arrival_schedule(100.0, rate_per_s=4.0, duration_s=2.0)
    assert schedule == pytest.approx([100.0 + n * 0.25 for n in range(8)])
    assert arrival_schedule(0.0, rate_per_s=0.0, duration_s=5.0) == []


@given(st.floats(0.5, 5000), st.floats(0.1, 60))
def test_the_schedule_holds_rate_times_duration_arrivals(rate: float, duration: float) -> None:
    schedule = arrival_schedule(0.0, rate, duration)
    assert abs(len(schedule) - rate * duration) <= 1
    assert all(0.0 <= instant < duration for instant in schedule)
    assert schedule == sorted(schedule)


def test_finishes_fall_into_whole_seconds_from_the_start() -> None:
    assert per_second([0.1, 0.9, 1.0, 2.5, 2.99, 5.0, -0.1], start=0.0, end=3.0) == [2, 1, 2]
    assert per_second([], start=5.0, end=6.5) == [0, 0]
