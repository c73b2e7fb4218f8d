"""Wiring: the pool, the producer and outbox relay, the reply consumer, the sweeper and the
LISTEN connection, created in the app's lifespan and stopped in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Final

import asyncpg
from fastapi import FastAPI
from wallet_shared.platform.audit import audit_router
from wallet_shared.platform.dead_letter_api import dead_letter_router
from wallet_shared.platform.http import ReadinessCheck, create_service_app
from wallet_shared.platform.loops import BackgroundLoop
from wallet_shared.platform.outbox import OutboxRelay
from wallet_shared.platform.plumbing import Plumbing, start_plumbing
from wallet_shared.platform.retention import IDEMPOTENCY_KEYS
from wallet_shared.platform.service_auth import ServiceTokenVerifier

from transfer_coordinator.adapters import claims, saga_gauges
from transfer_coordinator.adapters.notifications import FinalStatusListener
from transfer_coordinator.adapters.webhook_sender import WebhookSender
from transfer_coordinator.entrypoints.http import router
from transfer_coordinator.entrypoints.oversight_http import router as oversight_router
from transfer_coordinator.entrypoints.public_events import public_events_consumer
from transfer_coordinator.entrypoints.replies import reply_consumer
from transfer_coordinator.entrypoints.sweeper import SagaSweeper
from transfer_coordinator.entrypoints.webhook_dispatcher import WebhookDispatcher
from transfer_coordinator.service_layer.context import CoordinatorContext, unit_of_work
from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.service_layer.transfers import TransferStarts
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
        service_credentials=ServiceTokenVerifier(secret=settings.internal_secret),
    )
    app.include_router(router)
    app.include_router(dead_letter_router())
    app.include_router(oversight_router)
    app.include_router(audit_router())
    return app


def coordinator_topics(settings: CoordinatorSettings) -> list[str]:
    """The topics the coordinator writes or reads."""
    topics = settings.topics()
    commands = [topics.shard_commands(shard) for shard in range(settings.shard_count)]
    replies = topics.transfer_replies
    events = [topics.events, topics.dead_letters(topics.events)]
    return [*commands, replies, topics.dead_letters(replies), *events]


async def _start(app: FastAPI, settings: CoordinatorSettings, stack: AsyncExitStack) -> None:
    plumbing = await start_plumbing(
        settings,
        service=SERVICE,
        topics=coordinator_topics(settings),
        migrations=MIGRATIONS,
        stack=stack,
        expiring=(IDEMPOTENCY_KEYS, claims.CLAIMS),
    )
    ctx = _context(settings, plumbing.pool, plumbing.relay)
    waiters = FinalWaiters()
    listener = FinalStatusListener(
        dsn=settings.database_url, on_final=waiters.announce, on_reconnect=waiters.announce_all
    )
    await listener.start()
    stack.push_async_callback(listener.stop)
    app.state.pool = plumbing.pool
    app.state.coordinator, app.state.final_waiters = ctx, waiters
    app.state.transfer_starts = TransferStarts(ctx)
    app.state.dead_letters = plumbing.dead_letters
    consumer = await stack.enter_async_context(
        reply_consumer(ctx, settings, plumbing.dead_letters, waiters=waiters)
    )
    plumbing.sampler.watch(consumer)
    plumbing.sampler.add(saga_gauges.measure)
    sweeper = await stack.enter_async_context(
        SagaSweeper(ctx=ctx, interval_s=settings.sweep_interval_s)
    )
    oversight = await _start_oversight(app, settings, plumbing, stack)
    # Set last: until every loop runs, the empty set of checks reads as "not ready".
    app.state.readiness_checks = plumbing.readiness_checks(listener, consumer, sweeper, *oversight)


async def _start_oversight(
    app: FastAPI, settings: CoordinatorSettings, plumbing: Plumbing, stack: AsyncExitStack
) -> list[BackgroundLoop]:
    """Webhook deliveries and risk rules: a consumer of the public event topic (its own group)
    and the dispatcher that sends deliveries. Off the money path: they only read its events."""
    sender = WebhookSender(
        timeout_s=settings.webhook_timeout_s, allow_private=settings.webhook_allow_private_urls
    )
    stack.push_async_callback(sender.close)
    dispatcher = WebhookDispatcher(
        pool=plumbing.pool,
        sender=sender,
        policy=settings.webhook_retry_policy(),
        timeout_s=settings.webhook_timeout_s,
        max_in_flight_per_endpoint=settings.webhook_max_in_flight_per_endpoint,
        poll_interval_s=settings.webhook_poll_interval_s,
    )
    ctx = OversightContext(
        pool=plumbing.pool,
        topics=settings.topics(),
        thresholds=settings.risk_thresholds(),
        allow_private_urls=settings.webhook_allow_private_urls,
        uow=unit_of_work(plumbing.pool, plumbing.relay),
        wake_dispatcher=dispatcher.wake,
    )
    app.state.oversight = ctx
    await stack.enter_async_context(dispatcher)
    events = await stack.enter_async_context(
        public_events_consumer(ctx, settings, plumbing.dead_letters)
    )
    plumbing.sampler.watch(events)
    return [dispatcher, events]


def _context(
    settings: CoordinatorSettings, pool: asyncpg.Pool, relay: OutboxRelay
) -> CoordinatorContext:
    return CoordinatorContext(
        pool=pool,
        shards=settings.shards(),
        topics=settings.topics(),
        transfer_deadline=timedelta(seconds=settings.transfer_deadline_s),
        redrive_after=timedelta(seconds=settings.redrive_after_s),
        stuck_grace=timedelta(seconds=settings.integrity_stuck_grace_s),
        cut_margin=timedelta(seconds=settings.integrity_cut_margin_s),
        max_amount=settings.max_amount,
        uow=unit_of_work(pool, relay),
    )


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    # Empty until the lifespan has started everything: an empty set of checks means not ready.
    checks: Mapping[str, ReadinessCheck] = getattr(app.state, "readiness_checks", {})
    return checks
