"""The shard's handlers on a fresh database of the session's PostgreSQL, with an outbox the test
reads (no Kafka: the relay is a counter of wake-ups)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from wallet_shard.bootstrap import MIGRATIONS, create_app
from wallet_shard.entrypoints.dependencies import ShardServices
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.settings import ShardSettings
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.db import apply_migrations, create_pool

from tests.integration.outbox_records import OutboxRecord, take_outbox
from tests.service_credentials import TEST_INTERNAL_SECRET

SHARD_ID = 0
SHARDS = ShardMap.even(2)
TOPICS = Topics(prefix="ts.")


@dataclass
class RelayWakes:
    """Counts the unit of work's calls to wake the outbox relay."""

    calls: int = 0

    def wake(self) -> None:
        self.calls += 1


@dataclass
class Shard:
    pool: asyncpg.Pool
    uow: UnitOfWork
    context: ShardContext
    wakes: RelayWakes

    async def take_outbox(self) -> list[OutboxRecord]:
        """Everything queued since the last call, in order (then removed, as the relay would)."""
        return await take_outbox(self.pool)

    def http_client(self, *, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        """A client of the shard's app in process, on this unit of work: the app's lifespan
        (Kafka) is not run. `auth`: what every request carries (None: each request says)."""
        settings = ShardSettings(
            shard_id=SHARD_ID,
            shard_count=SHARDS.shard_count,
            topic_prefix=TOPICS.prefix,
            internal_secret=TEST_INTERNAL_SECRET,
        )
        app = create_app(settings)
        app.state.shard_services = ShardServices(uow=self.uow, shard=self.context)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shard", auth=auth
        )


def users_of_shard(shard: int) -> list[str]:
    """User ids whose bucket belongs to `shard` (deterministic, so failures reproduce)."""
    candidates = (f"user-{n}" for n in itertools.count())
    return list(itertools.islice((u for u in candidates if SHARDS.shard_for_user(u) == shard), 50))


@pytest.fixture
async def shard(database_dsn: str) -> AsyncIterator[Shard]:
    pool = await create_pool(database_dsn, min_size=2, max_size=12)
    try:
        await apply_migrations(pool, package=MIGRATIONS)
        wakes = RelayWakes()
        context = ShardContext(
            shard_id=SHARD_ID, shard_map=SHARDS, topics=TOPICS, max_amount=10**15
        )
        yield Shard(pool=pool, uow=UnitOfWork(pool=pool, relay=wakes), context=context, wakes=wakes)
    finally:
        await pool.close()
