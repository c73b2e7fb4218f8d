"""Test harness of the coordinator's handlers: a clock the test moves, an outbox the test reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from transfer_coordinator.entrypoints.http import router
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.transfers import TransferStarts
from wallet_shared.contracts.ids import new_wallet_id
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.http import ReadinessCheck, create_service_app
from wallet_shared.platform.service_auth import ServiceTokenVerifier

from tests.integration.outbox_records import OutboxRecord, take_outbox
from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential

PREFIX = "tc."
SHARDS = ShardMap.even(2)
TOPICS = Topics(prefix=PREFIX)
DEADLINE = timedelta(seconds=30)
REDRIVE_AFTER = timedelta(seconds=5)


@dataclass
class Clock:
    """The coordinator's clock, moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class OutboxWake:
    """Counts the coordinator's calls to wake the relay."""

    calls: int = 0

    def wake(self) -> None:
        self.calls += 1


@dataclass
class Harness:
    ctx: CoordinatorContext
    clock: Clock
    wake: OutboxWake
    dsn: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.ctx.pool

    async def take_outbox(self) -> list[OutboxRecord]:
        """Everything queued since the last call, in order (then removed, as the relay would)."""
        return await take_outbox(self.pool)

    async def row(self, transfer_id: str) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM transfers WHERE id = $1", transfer_id)


@dataclass
class OpenedTransactions:
    """How many transactions a unit of work opened (`count_transactions`)."""

    count: int = 0


def count_transactions(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> OpenedTransactions:
    """Counts the transactions the coordinator's unit of work opens from now on: statements
    that commit alone need no BEGIN and COMMIT, two round trips each."""
    opened = OpenedTransactions()
    real_transaction = harness.ctx.uow.transaction

    @asynccontextmanager
    async def counted_transaction(**options: Any) -> AsyncIterator[Any]:
        opened.count += 1
        async with real_transaction(**options) as tx:
            yield tx

    monkeypatch.setattr(harness.ctx.uow, "transaction", counted_transaction)
    return opened


def wallet_on_shard(shard: int) -> str:
    """A fresh wallet id whose bucket belongs to `shard`."""
    return new_wallet_id(SHARDS.buckets_of(shard)[7])


def internal_app(harness: Harness) -> FastAPI:
    """The coordinator's internal routes on the harness's context, in process: no lifespan (the
    harness owns the pool), no readiness checks, credentials signed with the tests' secret."""
    app = create_service_app(
        service="coordinator-test",
        title="t",
        lifespan=_no_lifespan,
        readiness=_no_checks,
        service_credentials=ServiceTokenVerifier(secret=TEST_INTERNAL_SECRET),
    )
    app.include_router(router)
    app.state.coordinator = harness.ctx
    app.state.transfer_starts = TransferStarts(harness.ctx)
    return app


def internal_client(app: FastAPI) -> httpx.AsyncClient:
    """A client of `app` that carries a service credential, as the gateway's calls do."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://coordinator",
        auth=ServiceCredential(),
    )


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def _no_checks(_: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {}
