"""What every handler needs, wired once in `bootstrap.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg
from wallet_shared.db import transaction
from wallet_shared.group_commit import GroupCommit, Work
from wallet_shared.messages import utc_now
from wallet_shared.routing import ShardMap
from wallet_shared.topics import Topics

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CoordinatorContext:
    """The saga store, where commands and events go, and the saga's timing."""

    pool: asyncpg.Pool
    shards: ShardMap
    topics: Topics
    transfer_deadline: timedelta
    redrive_after: timedelta
    max_amount: int
    wake_outbox: Callable[[], None]
    """Called after a commit that queued messages, so the relay publishes them at once."""
    clock: Callable[[], datetime] = utc_now
    stuck_grace: timedelta = timedelta(seconds=60)
    """How long past its deadline a pending saga may be before the integrity check calls it
    stuck."""
    cut_margin: timedelta = timedelta(seconds=60)
    """How far back the integrity check's cut reads sagas one by one."""
    group_commit: GroupCommit | None = None
    """When set, concurrent requests share transactions (one commit for many)."""

    async def in_transaction(self, work: Work[T]) -> T:
        """`work` in a transaction: shared with concurrent ones when group commit is on."""
        if self.group_commit is not None:
            return await self.group_commit.run(work)
        async with transaction(self.pool) as conn:
            return await work(conn)
