"""Fixtures of the shared plumbing's tests on the session's PostgreSQL and Kafka: a migrated pool
on the test's fresh database, a producer, and a running outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from wallet_shared.platform.db import SHARED_MIGRATIONS, apply_migrations, create_pool
from wallet_shared.platform.kafka import start_producer
from wallet_shared.platform.outbox import OutboxRelay

from tests.integration.plumbing import SERVICE


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's fresh database, shared tables migrated."""
    pool = await create_pool(database_dsn, min_size=1, max_size=6)
    await apply_migrations(pool, package=SHARED_MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = await start_producer(kafka_bootstrap, client_id=SERVICE)
    yield producer
    await producer.stop()


@pytest.fixture
async def relay(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[OutboxRelay]:
    async with OutboxRelay(pool=pool, producer=producer, service=SERVICE) as relay:
        yield relay
