"""The unit of work: one DB transaction over the shard's repositories, whose outgoing messages
(outbox) commit with it; the outbox relay is woken once it has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import asyncpg
from wallet_shared.db import transaction
from wallet_shared.group_commit import GroupCommit
from wallet_shared.messages import Leg, OutgoingMessage
from wallet_shared.outbox import enqueue

from wallet_shard.adapters.integrity_queries import IntegrityQueries
from wallet_shard.adapters.journal_repository import JournalRepository
from wallet_shard.adapters.ledger_views import LedgerViews
from wallet_shard.adapters.leg_repository import LegRepository
from wallet_shard.adapters.local_transfer_repository import LocalTransferRepository
from wallet_shard.adapters.movement_requests import MovementRequestRepository
from wallet_shard.adapters.purchase_repository import PurchaseRepository
from wallet_shard.adapters.wallet_repository import WalletRepository, lock_wallets_in_order

T = TypeVar("T")


class OutboxWaker(Protocol):
    """What the unit of work needs of the outbox relay."""

    def wake(self) -> None: ...


@dataclass
class ShardRepositories:
    """The shard's repositories on one connection."""

    conn: asyncpg.Connection
    wallets: WalletRepository
    journal: JournalRepository
    holds: LegRepository
    pending_credits: LegRepository
    purchases: PurchaseRepository
    movement_requests: MovementRequestRepository
    views: LedgerViews
    local_transfers: LocalTransferRepository
    published: bool = field(default=False)

    @classmethod
    def on(cls, conn: asyncpg.Connection) -> ShardRepositories:
        return cls(
            conn=conn,
            wallets=WalletRepository(conn),
            journal=JournalRepository(conn),
            holds=LegRepository(conn, Leg.DEBIT),
            pending_credits=LegRepository(conn, Leg.CREDIT),
            purchases=PurchaseRepository(conn),
            movement_requests=MovementRequestRepository(conn),
            views=LedgerViews(conn),
            local_transfers=LocalTransferRepository(conn),
        )

    def legs(self, leg: Leg) -> LegRepository:
        return self.holds if leg is Leg.DEBIT else self.pending_credits

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Queue messages in the outbox: they leave only if the transaction commits."""
        if messages:
            await enqueue(self.conn, messages)
            self.published = True


class UnitOfWork:
    """Opens transactions (and plain reads) on the shard database."""

    def __init__(
        self, *, pool: asyncpg.Pool, relay: OutboxWaker, group_commit: bool = False
    ) -> None:
        self._pool = pool
        self._relay = relay
        # Requests that arrive together share a transaction (one commit for many); the batch
        # locks every wallet its requests name first, in id order.
        self._group_commit = (
            GroupCommit(pool=pool, prelock=lock_wallets_in_order) if group_commit else None
        )

    async def grouped(
        self, work: Callable[[ShardRepositories], Awaitable[T]], *, wallets: Sequence[str]
    ) -> T:
        """`work` in a transaction shared with concurrent requests (group commit) when that is
        on, else in one of its own; the relay is woken once it committed. `wallets`: every
        wallet the work locks (the batch locks them all first, in id order). `work` raises its
        refusals before its first write, and may run again (after a batch was rolled back)."""
        if self._group_commit is None:
            async with self.transaction() as repos:
                return await work(repos)
        published = False

        async def on_connection(conn: asyncpg.Connection) -> T:
            nonlocal published
            repositories = ShardRepositories.on(conn)
            result = await work(repositories)
            published = repositories.published
            return result

        result = await self._group_commit.run(on_connection, locks=wallets)
        if published:
            self._relay.wake()
        return result

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ShardRepositories]:
        """Everything done in the block commits together, or not at all."""
        async with transaction(self._pool) as conn:
            repositories = ShardRepositories.on(conn)
            yield repositories
        if repositories.published:
            self._relay.wake()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[ShardRepositories]:
        """A connection for reads that need no transaction (each statement sees committed data)."""
        async with self._pool.acquire() as conn:
            yield ShardRepositories.on(conn)

    @asynccontextmanager
    async def reading_snapshot(self) -> AsyncIterator[ShardRepositories]:
        """Read-only, repeatable-read: a long read (a statement) sees one instant throughout."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield ShardRepositories.on(conn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[IntegrityQueries]:
        """Read-only, repeatable-read: every check sees the same instant of the ledger."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield IntegrityQueries(conn)
