"""What `/health/ready` asks of a service's parts: named checks, each answering True when ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

ReadinessCheck = Callable[[], Awaitable[bool]]


class ReadinessCache:
    """The last round of readiness checks, answered again for `ttl_s` seconds.

    A round can be costly (the gateway's asks every backend), and `/health/ready` is open to
    anyone who reaches the port: within `ttl_s` every asker gets the same answer, and askers that
    arrive while a round runs wait for it instead of starting their own. `ttl_s = 0` runs a round
    per request (still one at a time).
    """

    def __init__(self, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must not be negative")
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._results: dict[str, bool] | None = None
        self._taken_at = 0.0

    async def results(self, checks: Callable[[], Mapping[str, ReadinessCheck]]) -> dict[str, bool]:
        """Each check's answer, from the cache while it is fresh, else from a new round."""
        async with self._lock:
            if self._results is None or not self._fresh(self._clock()):
                named = list(checks().items())
                # Side by side: with k backends away, a round takes one timeout, not k.
                answers = await asyncio.gather(*(_safe(check) for _, check in named))
                self._results = {name: ok for (name, _), ok in zip(named, answers, strict=True)}
                self._taken_at = self._clock()
            return self._results

    def _fresh(self, now: float) -> bool:
        return self._taken_at <= now < self._taken_at + self._ttl_s


async def _safe(check: ReadinessCheck) -> bool:
    try:
        return await check()
    except Exception:  # a failing check is an unhealthy dependency, not a 500
        return False
