"""The state gauges (wallet_shared.platform.monitoring) on a real PostgreSQL and Kafka: what each one reads
is what the database and the consumer group hold, and `python -m wallet_shared.platform.migrate` (the
k8s migration Job) migrates a database once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from wallet_shared.platform.consumer import BatchConsumer
from wallet_shared.platform.db import migration_files
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import ensure_topics
from wallet_shared.platform.migrate import MIGRATIONS
from wallet_shared.platform.monitoring import MetricsSampler, watch_pool
from wallet_shared.platform.outbox import OutboxRelay

from tests.integration.plumbing import SERVICE


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_outbox_age_dead_letters_and_pool_are_read_from_the_database(
    pool: asyncpg.Pool,
) -> None:
    service = f"{SERVICE}-state"
    sampler = MetricsSampler(pool=pool, service=service, interval_s=60)
    await sampler.sample_once()
    assert _gauge("wallet_outbox_oldest_age_seconds", service=service) == 0.0

    async with pool.acquire() as conn:
        # No relay runs here: the message stays, as when Kafka is away.
        await conn.execute(
            "INSERT INTO outbox (topic, key, value, created_at)"
            " VALUES ('t', 'k', 'v', now() - interval '90 seconds')"
        )
        await conn.execute(
            'INSERT INTO dead_letters (service, topic, partition, "offset", error, attempts,'
            " replayed_at) VALUES ($1, 'orders', 0, 1, 'e', 1, NULL),"
            " ($1, 'orders', 0, 2, 'e', 1, NULL), ($1, 'orders', 0, 3, 'e', 1, now()),"
            " ('another-service', 'orders', 0, 4, 'e', 1, NULL)",
            service,
        )
    await sampler.sample_once()
    age = _gauge("wallet_outbox_oldest_age_seconds", service=service)
    assert age is not None
    assert 90 <= age < 600
    # Replayed ones and another service's do not count.
    assert _gauge("wallet_dead_letters_unreplayed", service=service, topic="orders") == 2

    watch_pool(pool, service=service)
    assert _gauge("wallet_db_pool_max_connections", service=service) == pool.get_max_size()
    assert _gauge("wallet_db_pool_connections_in_use", service=service) == 0
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        assert _gauge("wallet_db_pool_connections_in_use", service=service) == len(held)
        waiter = asyncio.create_task(_acquire(pool))
        await _until(lambda: _gauge("wallet_db_pool_waiting_acquires", service=service) == 1)
    finally:
        for conn in held:
            await pool.release(conn)
    await pool.release(await waiter)
    assert _gauge("wallet_db_pool_waiting_acquires", service=service) == 0


async def test_consumer_lag_counts_what_the_group_has_not_handled(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    topic = f"{topic_prefix}lag"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    for n in range(5):
        await producer.send_and_wait(topic, orjson.dumps(n))
    release = asyncio.Event()
    handled: list[int] = []

    async def handle(batch: Sequence[int]) -> None:
        await release.wait()  # a stuck handler: nothing is committed meanwhile
        handled.extend(batch)

    consumer: BatchConsumer[int] = BatchConsumer(
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=f"{topic_prefix}group",
        service=SERVICE,
        decode=lambda value: int(orjson.loads(value or b"0")),
        handle_batch=handle,
        dead_letters=DeadLetterStore(pool=pool, service=SERVICE, relay=relay),
    )
    sampler = MetricsSampler(pool=pool, service=SERVICE, interval_s=60)
    sampler.watch(consumer)

    def lag_is(expected: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            await sampler.sample_once()
            labels = {"service": SERVICE, "topic": topic, "partition": "0"}
            return _gauge("wallet_consumer_lag_messages", **labels) == expected

        return check

    async with consumer:
        await _until_async(lag_is(5))
        for n in range(5, 8):
            await producer.send_and_wait(topic, orjson.dumps(n))
        await _until_async(lag_is(8))
        release.set()
        await _until_async(lag_is(0))
    assert handled == list(range(8))
    # A partition the process no longer holds is not reported by it any more.
    await sampler.sample_once()
    assert (
        _gauge("wallet_consumer_lag_messages", service=SERVICE, topic=topic, partition="0") is None
    )


def test_the_migration_entrypoint_migrates_a_database_once(database_dsn: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLET_")}
    env["WALLET_DATABASE_URL"] = database_dsn
    command = [sys.executable, "-m", "wallet_shared.platform.migrate", "wallet-shard"]
    for _ in range(2):  # the second run finds nothing to do
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "wallet-shard: migrations applied" in done.stdout
    counts = asyncio.run(_migration_counts(database_dsn))
    assert counts == {
        "wallet_shared.platform.migrations": len(
            migration_files("wallet_shared.platform.migrations")
        ),
        MIGRATIONS["wallet-shard"]: len(migration_files(MIGRATIONS["wallet-shard"])),
    }
    wrong = subprocess.run(
        [sys.executable, "-m", "wallet_shared.platform.migrate", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode != 0
    assert "usage" in wrong.stderr


async def _acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    connection: asyncpg.Connection = await pool.acquire()
    return connection


async def _migration_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT stream, count(*) AS n FROM schema_migrations GROUP BY 1")
    finally:
        await conn.close()
    return {row["stream"]: row["n"] for row in rows}


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _until_async(condition: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
