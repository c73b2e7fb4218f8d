"""The shard's unit of work: one DB transaction over its repositories, whose outgoing messages
(outbox) commit with it; the outbox relay is woken once it has committed (`wallet_shared.
unit_of_work`), and the reads that need no transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from wallet_shared.platform.group_commit import GroupCommit
from wallet_shared.platform.unit_of_work import OutboxTransaction, OutboxWaker
from wallet_shared.platform.unit_of_work import UnitOfWork as TransactionOpener

from wallet_shard.adapters.integrity_queries import IntegrityQueries
from wallet_shard.adapters.journal_repository import JournalRepository
from wallet_shard.adapters.ledger_views import LedgerViews
from wallet_shard.adapters.leg_repository import LegRepository
from wallet_shard.adapters.local_transfer_repository import LocalTransferRepository
from wallet_shard.adapters.movement_requests import MovementRequestRepository
from wallet_shard.adapters.purchase_repository import PurchaseRepository
from wallet_shard.adapters.wallet_repository import WalletRepository, lock_wallets_in_order


@dataclass(kw_only=True)
class ShardRepositories(OutboxTransaction):
    """The shard's repositories on one connection."""

    wallets: WalletRepository
    journal: JournalRepository
    legs: LegRepository
    purchases: PurchaseRepository
    movement_requests: MovementRequestRepository
    views: LedgerViews
    local_transfers: LocalTransferRepository

    @classmethod
    def on(cls, conn: asyncpg.Connection) -> ShardRepositories:
        return cls(
            conn=conn,
            wallets=WalletRepository(conn),
            journal=JournalRepository(conn),
            legs=LegRepository(conn),
            purchases=PurchaseRepository(conn),
            movement_requests=MovementRequestRepository(conn),
            views=LedgerViews(conn),
            local_transfers=LocalTransferRepository(conn),
        )


class UnitOfWork(TransactionOpener[ShardRepositories]):
    """Opens transactions (and plain reads) on the shard database."""

    def __init__(
        self, *, pool: asyncpg.Pool, relay: OutboxWaker, group_commit: bool = False
    ) -> None:
        # Requests that arrive together share a transaction (one commit for many); the batch
        # locks every wallet its requests name first, in id order.
        super().__init__(
            pool=pool,
            relay=relay,
            open_on=ShardRepositories.on,
            group_commit=GroupCommit(pool=pool, prelock=lock_wallets_in_order)
            if group_commit
            else None,
        )

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[ShardRepositories]:
        """A connection for reads that need no transaction (each statement sees committed data)."""
        async with self.pool.acquire() as conn:
            yield ShardRepositories.on(conn)

    @asynccontextmanager
    async def reading_snapshot(self) -> AsyncIterator[ShardRepositories]:
        """Read-only, repeatable-read: a long read (a statement) sees one instant throughout."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield ShardRepositories.on(conn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[IntegrityQueries]:
        """Read-only, repeatable-read: every check sees the same instant of the ledger."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield IntegrityQueries(conn)
