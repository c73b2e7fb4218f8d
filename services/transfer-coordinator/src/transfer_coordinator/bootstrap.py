"""Wiring: the pool, the producer and outbox relay, the reply consumer, the sweeper and the
LISTEN connection, created in the app's lifespan and stopped in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Final

import asyncpg
from fastapi import FastAPI
from wallet_shared.db import apply_migrations, create_pool, database_ready
from wallet_shared.dead_letter_api import dead_letter_router
from wallet_shared.dead_letters import DeadLetterStore
from wallet_shared.http import ReadinessCheck, create_service_app
from wallet_shared.kafka import ensure_topics, kafka_ready, start_producer
from wallet_shared.outbox import OutboxRelay

from transfer_coordinator.adapters.notifications import FinalStatusListener
from transfer_coordinator.entrypoints.http import router
from transfer_coordinator.entrypoints.replies import reply_consumer
from transfer_coordinator.entrypoints.sweeper import SagaSweeper
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.waiting import FinalWaiters
from transfer_coordinator.settings import SERVICE, CoordinatorSettings

MIGRATIONS: Final = "transfer_coordinator.adapters.migrations"


def create_app(settings: CoordinatorSettings) -> FastAPI:
    """The coordinator's FastAPI app; its lifespan starts and stops every background worker."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await _start(app, settings, stack)
            yield

    app = create_service_app(
        service=SERVICE,
        title="Transfer coordinator",
        description="Transfer sagas (Try → Confirm | Cancel) between wallets on any shards.",
        lifespan=lifespan,
        readiness=_readiness,
    )
    app.include_router(router)
    app.include_router(dead_letter_router())
    return app


def coordinator_topics(settings: CoordinatorSettings) -> list[str]:
    """The topics the coordinator writes or reads."""
    topics = settings.topics()
    commands = [topics.shard_commands(shard) for shard in range(settings.shard_count)]
    replies = topics.transfer_replies
    return [*commands, replies, topics.dead_letters(replies), topics.events]


async def _start(app: FastAPI, settings: CoordinatorSettings, stack: AsyncExitStack) -> None:
    await ensure_topics(
        settings.kafka_bootstrap,
        coordinator_topics(settings),
        partitions=settings.topic_partitions,
    )
    pool = await create_pool(
        settings.database_url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )
    stack.push_async_callback(pool.close)
    await apply_migrations(pool, package=MIGRATIONS)
    producer = await start_producer(settings.kafka_bootstrap, client_id=SERVICE)
    stack.push_async_callback(producer.stop)
    relay = await stack.enter_async_context(
        OutboxRelay(pool=pool, producer=producer, service=SERVICE)
    )
    ctx = _context(settings, pool, relay)
    waiters = FinalWaiters()
    listener = FinalStatusListener(
        dsn=settings.database_url, on_final=waiters.announce, on_reconnect=waiters.announce_all
    )
    await listener.start()
    stack.push_async_callback(listener.stop)
    app.state.pool, app.state.producer = pool, producer
    app.state.coordinator, app.state.final_waiters = ctx, waiters
    dead_letters = DeadLetterStore(pool=pool, service=SERVICE, relay=relay)
    app.state.dead_letters = dead_letters
    await stack.enter_async_context(reply_consumer(ctx, settings, dead_letters))
    sweeper = SagaSweeper(ctx=ctx, interval_s=settings.sweep_interval_s)
    await sweeper.start()
    stack.push_async_callback(sweeper.stop)


def _context(
    settings: CoordinatorSettings, pool: asyncpg.Pool, relay: OutboxRelay
) -> CoordinatorContext:
    return CoordinatorContext(
        pool=pool,
        shards=settings.shards(),
        topics=settings.topics(),
        transfer_deadline=timedelta(seconds=settings.transfer_deadline_s),
        redrive_after=timedelta(seconds=settings.redrive_after_s),
        max_amount=settings.max_amount,
        wake_outbox=relay.wake,
    )


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {
        "database": lambda: database_ready(app.state.pool),
        "kafka": lambda: kafka_ready(app.state.producer),
    }
