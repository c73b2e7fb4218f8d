"""Wires a shard process: topics, pool, migrations, producer, outbox relay, dead letters, the
command consumer and the HTTP app. Everything starts in the app's lifespan and stops in reverse order
(consumer before relay before producer before pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

import structlog
from fastapi import FastAPI
from wallet_shared.platform.audit import audit_router
from wallet_shared.platform.dead_letter_api import dead_letter_router
from wallet_shared.platform.http import ReadinessCheck, create_service_app
from wallet_shared.platform.plumbing import start_plumbing
from wallet_shared.platform.service_auth import ServiceTokenVerifier

from wallet_shard.entrypoints import transfers
from wallet_shard.entrypoints.commands_consumer import create_commands_consumer
from wallet_shard.entrypoints.dependencies import ShardServices
from wallet_shard.entrypoints.http import router
from wallet_shard.entrypoints.ledger_http import router as ledger_router
from wallet_shard.entrypoints.ledger_maintenance_http import router as maintenance_router
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.settings import ShardSettings

MIGRATIONS: Final = "wallet_shard.adapters.migrations"

_log = structlog.get_logger(__name__)


def shard_context(settings: ShardSettings) -> ShardContext:
    return ShardContext(
        shard_id=settings.shard_id,
        shard_map=settings.shards(),
        topics=settings.topics(),
        max_amount=settings.max_amount,
        default_limits=settings.default_limits(),
    )


def shard_topics(settings: ShardSettings) -> list[str]:
    """The topics this shard reads or writes: its commands (+ dead letters), replies, events."""
    topics = settings.topics()
    commands = topics.shard_commands(settings.shard_id)
    return [commands, topics.dead_letters(commands), topics.transfer_replies, topics.events]


def create_app(settings: ShardSettings) -> FastAPI:
    """The shard's FastAPI app; its lifespan runs every background worker of the process."""
    service = settings.service_name
    shard = shard_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as running:
            plumbing = await start_plumbing(
                settings,
                service=service,
                topics=shard_topics(settings),
                migrations=MIGRATIONS,
                stack=running,
            )
            uow = UnitOfWork(
                pool=plumbing.pool,
                relay=plumbing.relay,
                group_commit=True,
            )
            consumer = create_commands_consumer(
                bootstrap=settings.kafka_bootstrap,
                service=service,
                uow=uow,
                shard=shard,
                dead_letters=plumbing.dead_letters,
            )
            await running.enter_async_context(consumer)
            plumbing.sampler.watch(consumer)
            app.state.shard_services = ShardServices(uow=uow, shard=shard)
            app.state.dead_letters = plumbing.dead_letters
            app.state.pool = plumbing.pool  # the audit log's reads
            app.state.readiness_checks = plumbing.readiness_checks(consumer)
            _log.info("shard_started", shard=settings.shard_id, port=settings.shard_port)
            yield
        _log.info("shard_stopped", shard=settings.shard_id)

    app = create_service_app(
        service=service,
        title=f"Wallet shard {settings.shard_id}",
        description="Internal API of one wallet shard (called by the gateway only).",
        lifespan=lifespan,
        readiness=_readiness,
        service_credentials=ServiceTokenVerifier(secret=settings.internal_secret),
    )
    app.include_router(router)
    app.include_router(transfers.router)
    app.include_router(ledger_router)
    app.include_router(maintenance_router)
    app.include_router(dead_letter_router())
    app.include_router(audit_router())
    return app


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    # Empty until the lifespan has started everything: an empty set of checks means not ready.
    checks: Mapping[str, ReadinessCheck] = getattr(app.state, "readiness_checks", {})
    return checks
