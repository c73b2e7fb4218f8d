"""What every service that owns a database and speaks Kafka starts the same way: its topics,
the connection pool and migrations, the idempotent producer, the outbox relay, the dead-letter
store and the metrics sampler, each stopped in reverse order by the caller's exit stack."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import asyncpg
from aiokafka import AIOKafkaProducer

from wallet_shared.platform.db import apply_migrations, create_pool, database_ready
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import ensure_topics, kafka_ready, start_producer
from wallet_shared.platform.loops import BackgroundLoop, loop_checks
from wallet_shared.platform.monitoring import MetricsSampler, watch_pool
from wallet_shared.platform.outbox import OutboxRelay
from wallet_shared.platform.readiness import ReadinessCheck
from wallet_shared.platform.retention import IDEMPOTENCY_KEYS, ExpiringTable, RetentionJanitor
from wallet_shared.platform.settings import DatabaseSettings


@dataclass(frozen=True, slots=True)
class Plumbing:
    """A service's running database and Kafka plumbing."""

    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay
    dead_letters: DeadLetterStore
    janitor: RetentionJanitor
    sampler: MetricsSampler

    def readiness_checks(self, *loops: BackgroundLoop) -> dict[str, ReadinessCheck]:
        """The service is ready while its database and Kafka answer and its outbox relay, its
        retention janitor and every other loop of `loops` run."""
        return {
            "database": partial(database_ready, self.pool),
            "kafka": partial(kafka_ready, self.producer),
            **loop_checks([self.relay, self.janitor, *loops]),
        }


async def start_plumbing(
    settings: DatabaseSettings,
    *,
    service: str,
    topics: Sequence[str],
    migrations: str,
    stack: AsyncExitStack,
    expiring: Sequence[ExpiringTable] = (IDEMPOTENCY_KEYS,),
) -> Plumbing:
    """Create `topics`, open the pool, migrate (shared tables, then the package `migrations`),
    start the producer, the outbox relay and the janitor of the `expiring` tables; `stack`
    stops them in reverse order."""
    await ensure_topics(settings.kafka_bootstrap, topics, partitions=settings.topic_partitions)
    pool = await create_pool(
        settings.database_url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )
    stack.push_async_callback(pool.close)
    await apply_migrations(pool, package=migrations)
    producer = await start_producer(settings.kafka_bootstrap, client_id=service)
    stack.push_async_callback(producer.stop)
    relay = await stack.enter_async_context(
        OutboxRelay(pool=pool, producer=producer, service=service)
    )
    dead_letters = DeadLetterStore(pool=pool, service=service, relay=relay)
    janitor = await stack.enter_async_context(
        RetentionJanitor(
            pool=pool,
            service=service,
            tables=expiring,
            retention=timedelta(hours=settings.idempotency_retention_h),
        )
    )
    watch_pool(pool, service=service)
    # Not a readiness check: without it the service still moves money; its heartbeat and the
    # "loop silent" alert tell that the gauges went stale.
    sampler = await stack.enter_async_context(
        MetricsSampler(pool=pool, service=service, interval_s=settings.metrics_sample_interval_s)
    )
    return Plumbing(
        pool=pool,
        producer=producer,
        relay=relay,
        dead_letters=dead_letters,
        janitor=janitor,
        sampler=sampler,
    )
