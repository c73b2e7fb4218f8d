"""The coordinator's handlers on a fresh database of the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from transfer_coordinator.bootstrap import MIGRATIONS
from transfer_coordinator.service_layer.context import CoordinatorContext, unit_of_work
from wallet_shared.platform.db import apply_migrations, create_pool

from tests.integration.transfer_coordinator.harness import (
    DEADLINE,
    REDRIVE_AFTER,
    SHARDS,
    TOPICS,
    Clock,
    Harness,
    OutboxWake,
)


@pytest.fixture
async def harness(database_dsn: str) -> AsyncIterator[Harness]:
    pool = await create_pool(database_dsn, min_size=2, max_size=6)
    try:
        await apply_migrations(pool, package=MIGRATIONS)
        clock, wake = Clock(), OutboxWake()
        ctx = CoordinatorContext(
            pool=pool,
            shards=SHARDS,
            topics=TOPICS,
            transfer_deadline=DEADLINE,
            redrive_after=REDRIVE_AFTER,
            max_amount=10**15,
            uow=unit_of_work(pool, wake),
            clock=clock,
        )
        yield Harness(ctx=ctx, clock=clock, wake=wake, dsn=database_dsn)
    finally:
        await pool.close()
