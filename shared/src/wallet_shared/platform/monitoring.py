"""State metrics, measured off the money path.

Counters and histograms are updated where the event happens (wallet_shared.platform.metrics); state is
not an event, so it is measured here instead, never by a request:

- at scrape time, from memory: the connection pool (in use, waiting, its size);
- by `MetricsSampler`, a background loop of every service that owns a database, every few
  seconds: the age of the oldest outbox message, the dead letters not replayed yet, the lag of
  every consumer of the process per partition, and whatever the service adds (the coordinator's
  sagas by phase). Each pass is a handful of index reads on one pooled connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import asyncpg

from wallet_shared.platform.loops import BackgroundLoop
from wallet_shared.platform.metrics import (
    CONSUMER_LAG,
    DB_POOL_IN_USE,
    DB_POOL_SIZE,
    DB_POOL_WAITING,
    DEAD_LETTERS_UNREPLAYED,
    OUTBOX_OLDEST_AGE,
)

Sample = Callable[[asyncpg.Connection], Awaitable[None]]
"""One measurement of a sampler pass: reads through the connection, sets gauges."""

_OUTBOX_OLDEST: Final = """
SELECT coalesce(extract(epoch FROM now() - created_at), 0)::float8
FROM outbox ORDER BY id LIMIT 1
"""
_UNREPLAYED: Final = """
SELECT topic, count(*) AS unreplayed FROM dead_letters
WHERE service = $1 AND replayed_at IS NULL GROUP BY topic
"""


class LaggingConsumer(Protocol):
    """What the sampler needs of a consumer (wallet_shared.platform.consumer.BatchConsumer)."""

    @property
    def topic(self) -> str:
        """The topic it consumes."""

    async def lag(self) -> dict[int, int]:
        """Messages not handled yet, by partition of those it holds."""


def watch_pool(pool: asyncpg.Pool, *, service: str) -> None:
    """Export the pool's occupancy, computed when Prometheus scrapes (nothing per request)."""
    DB_POOL_SIZE.labels(service).set_function(pool.get_max_size)
    DB_POOL_IN_USE.labels(service).set_function(lambda: _in_use(pool))
    DB_POOL_WAITING.labels(service).set_function(lambda: _waiting(pool))


def _in_use(pool: asyncpg.Pool) -> float:
    # Free connection holders wait in the pool's queue; every other one is lent out.
    queue = getattr(pool, "_queue", None)
    if queue is None:
        return 0.0
    return float(pool.get_max_size() - queue.qsize())


def _waiting(pool: asyncpg.Pool) -> float:
    # asyncpg has no public count of waiting acquires: they are the getters of its asyncio
    # queue of free holders. Read defensively, so that an asyncpg upgrade shows 0, not an error.
    queue = getattr(pool, "_queue", None)
    return float(len(getattr(queue, "_getters", ()) or ()))


class MetricsSampler(BackgroundLoop):
    """Measures the state gauges of one service every `interval_s` (see the module docstring).

    Consumers and extra samples can be added after it started (they are created later in a
    service's start-up); a failed pass is logged and retried, it never stops the service.
    """

    def __init__(self, *, pool: asyncpg.Pool, service: str, interval_s: float = 5.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        super().__init__(name="metrics_sampler", service=service)
        self._pool = pool
        self._interval_s = interval_s
        self._consumers: list[LaggingConsumer] = []
        self._samples: list[Sample] = []
        self._lag_labels: set[tuple[str, str, str]] = set()

    def watch(self, *consumers: LaggingConsumer) -> None:
        """Measure the lag of `consumers`, and count the dead letters of their topics from 0."""
        for consumer in consumers:
            self._consumers.append(consumer)
            DEAD_LETTERS_UNREPLAYED.labels(self.service, consumer.topic).set(0)

    def add(self, sample: Sample) -> None:
        """Run `sample` on every pass."""
        self._samples.append(sample)

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            self.beat()
            try:
                await self.sample_once()
                failures = 0
            except Exception as error:
                failures += 1
                if await self.back_off("metrics_sample_failed", error, failures, cap_s=30.0):
                    return
                continue
            if await self.pause(self._interval_s):
                return

    async def sample_once(self) -> None:
        """One pass: every gauge measured now."""
        async with self._pool.acquire() as conn:
            age = await conn.fetchval(_OUTBOX_OLDEST)
            OUTBOX_OLDEST_AGE.labels(self.service).set(age or 0.0)
            await self._count_dead_letters(conn)
            for sample in self._samples:
                await sample(conn)
        await self._measure_lag()

    async def _count_dead_letters(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(_UNREPLAYED, self.service)
        counts = {row["topic"]: row["unreplayed"] for row in rows}
        topics = {consumer.topic for consumer in self._consumers} | set(counts)
        for topic in topics:
            DEAD_LETTERS_UNREPLAYED.labels(self.service, topic).set(counts.get(topic, 0))

    async def _measure_lag(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for consumer in self._consumers:
            for partition, lag in (await consumer.lag()).items():
                labels = (self.service, consumer.topic, str(partition))
                CONSUMER_LAG.labels(*labels).set(lag)
                seen.add(labels)
        # A partition this process no longer holds is another member's to report now.
        for labels in self._lag_labels - seen:
            CONSUMER_LAG.remove(*labels)
        self._lag_labels = seen
