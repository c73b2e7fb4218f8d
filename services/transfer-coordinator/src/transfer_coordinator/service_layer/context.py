"""What every handler needs, wired once in `bootstrap.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from wallet_shared.contracts.messages import utc_now
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.unit_of_work import OutboxTransaction, OutboxWaker, UnitOfWork

CoordinatorUnitOfWork = UnitOfWork[OutboxTransaction]
"""Transactions on the saga store; what they queue in the outbox wakes the relay on commit."""


def unit_of_work(pool: asyncpg.Pool, relay: OutboxWaker) -> CoordinatorUnitOfWork:
    """The coordinator's unit of work (its batches of starts and claims form above it:
    `service_layer.transfers.TransferStarts`, the gateway's coalesced claims)."""
    return UnitOfWork(pool=pool, relay=relay, open_on=_open_on)


def _open_on(conn: asyncpg.Connection) -> OutboxTransaction:
    return OutboxTransaction(conn=conn)


@dataclass(frozen=True, slots=True)
class CoordinatorContext:
    """The saga store, where commands and events go, and the saga's timing."""

    pool: asyncpg.Pool
    shards: ShardMap
    topics: Topics
    transfer_deadline: timedelta
    redrive_after: timedelta
    max_amount: int
    uow: CoordinatorUnitOfWork
    clock: Callable[[], datetime] = utc_now
    stuck_grace: timedelta = timedelta(seconds=60)
    """How long past its deadline a pending saga may be before the integrity check calls it
    stuck."""
    cut_margin: timedelta = timedelta(seconds=60)
    """How far back the integrity check's cut reads sagas one by one."""
