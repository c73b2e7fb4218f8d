"""Token bucket per caller, in memory, one per gateway replica.

Each caller's bucket holds at most `burst` tokens and refills at `rate_per_s`; a request takes one
token or is refused with the whole seconds until one is back. Memory stays bounded: a bucket that
has been idle long enough to be full again is indistinguishable from a new one, so it is dropped;
past `max_buckets` the least recently seen bucket is dropped too.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_BUCKETS: Final = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class TokenBucketLimiter:
    """Per-key token buckets with idle eviction (keys: `sub:<user>` or `addr:<ip>`)."""

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_buckets < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_buckets at least 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._max_buckets = max_buckets
        self._refill_s = burst / rate_per_s  # time for an empty bucket to become full
        # Least recently seen first: idle buckets gather at the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> int | None:
        """Take a token for `key`: None when granted, else the seconds to wait (at least 1)."""
        now = self._clock()
        self._evict_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=self._burst, updated_at=now)
        else:
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated_at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))

    def _evict_idle(self, now: float) -> None:
        # Amortised O(1): each bucket is dropped at most once after it was last touched.
        while self._buckets:
            _, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated_at < self._refill_s:
                return
            self._buckets.popitem(last=False)
