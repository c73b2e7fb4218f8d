"""What one phase of the benchmark did, reduced to figures: pure functions, no I/O.

Every operation the load generator sends becomes a `Sample`: when it began (its submit time in a
closed loop, its *scheduled* time in an open loop, so that a system falling behind its arrival
schedule shows in the latency instead of hiding it), when its answer came, and its outcome. A
phase is measured over a window: operations that began inside it give the latency figures, and
successful operations that finished inside it give the throughput (and the operation count the
CPU figures are divided by).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

OK = "ok"
CANCELLED = "cancelled"
ERROR_PREFIX = "error:"


@dataclass(frozen=True)
class Sample:
    """One operation: `began` and `finished` in seconds of one monotonic clock."""

    began: float
    finished: float
    outcome: str  # OK, CANCELLED or ERROR_PREFIX + what went wrong

    @property
    def latency_s(self) -> float:
        return self.finished - self.began


@dataclass(frozen=True)
class Window:
    """The measured part of a phase, [start, end) on the samples' clock."""

    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return max(self.end - self.start, 1e-9)

    def holds(self, instant: float) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class PhaseSummary:
    """The figures of one phase, as the report and the JSON show them."""

    name: str
    count: int  # successful operations that finished inside the window
    duration_s: float
    throughput: float  # count / duration_s
    ratio: float | None  # throughput / baseline tps (None without a baseline)
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int
    cancelled: int
    error_kinds: dict[str, int] = field(default_factory=dict)


def percentile(samples: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of a non-empty sample."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    # The epsilon keeps 0.95 * 100 (= 95.00000000000001) at rank 95.
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def summarise(
    name: str, samples: Iterable[Sample], window: Window, baseline_tps: float | None
) -> PhaseSummary:
    """Reduce a phase's samples to its figures over `window`.

    Latencies are those of operations that began in the window and reached an answer (a
    cancelled transfer reached its final status too); errors and cancellations are counted among
    the operations that began in the window.
    """
    latencies: list[float] = []
    kinds: Counter[str] = Counter()
    count = 0
    for sample in samples:
        if sample.outcome == OK and window.holds(sample.finished):
            count += 1
        if not window.holds(sample.began):
            continue
        kinds[sample.outcome] += 1
        if not sample.outcome.startswith(ERROR_PREFIX):
            latencies.append(sample.latency_s)
    throughput = count / window.duration_s
    errors = {kind: n for kind, n in kinds.items() if kind.startswith(ERROR_PREFIX)}
    return PhaseSummary(
        name=name,
        count=count,
        duration_s=window.duration_s,
        throughput=throughput,
        ratio=throughput / baseline_tps if baseline_tps else None,
        p50_ms=_ms(latencies, 0.50),
        p95_ms=_ms(latencies, 0.95),
        p99_ms=_ms(latencies, 0.99),
        max_ms=max(latencies) * 1000 if latencies else None,
        errors=sum(errors.values()),
        cancelled=kinds[CANCELLED],
        error_kinds=dict(sorted(errors.items())),
    )


def _ms(latencies: Sequence[float], share: float) -> float | None:
    return percentile(latencies, share) * 1000 if latencies else None


def arrival_schedule(start: float, rate_per_s: float, duration_s: float) -> list[float]:
    """The send times of an open loop: `rate_per_s` evenly spaced arrivals from `start` on,
    every one before `start + duration_s`."""
    if rate_per_s <= 0 or duration_s <= 0:
        return []
    count = math.ceil(rate_per_s * duration_s - 1e-9)
    return [start + n / rate_per_s for n in range(count)]


def per_second(finishes: Iterable[float], start: float, end: float) -> list[int]:
    """How many of `finishes` fell in each whole second from `start` up to `end`."""
    buckets = [0] * max(0, math.ceil(end - start - 1e-9))
    for instant in finishes:
        slot = math.floor(instant - start)
        if 0 <= slot < len(buckets):
            buckets[slot] += 1
    return buckets
