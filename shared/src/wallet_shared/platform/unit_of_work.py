"""The unit of work: one DB transaction, the messages it queues in the outbox (which commit with
it), and the outbox relay woken once it has committed, so that no caller has to remember to.

A service describes what a transaction offers (its repositories) by subclassing
`OutboxTransaction`; `UnitOfWork` opens them, alone or shared with concurrent ones (group commit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import asyncpg

from wallet_shared.contracts.messages import OutgoingMessage
from wallet_shared.platform.db import connection, transaction
from wallet_shared.platform.group_commit import GroupCommit
from wallet_shared.platform.outbox import queueing
from wallet_shared.platform.writes import Write, write_together

T = TypeVar("T")


class OutboxWaker(Protocol):
    """What the unit of work needs of the outbox relay."""

    def wake(self) -> None: ...


@dataclass(kw_only=True)
class OutboxTransaction:
    """An open transaction on `conn`, and whether it queued messages."""

    conn: asyncpg.Connection
    published: bool = field(default=False)

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Queue messages in the outbox: they leave only if the transaction commits."""
        await write_together(self.conn, self.publishing(messages))

    def publishing(self, messages: Sequence[OutgoingMessage]) -> list[Write]:
        """The write that queues messages as `publish` does, to send with the batch's other
        writes (`write_together`) in this transaction; none when there are no messages."""
        if messages:
            self.published = True
        return queueing(messages)


Tx = TypeVar("Tx", bound=OutboxTransaction)


class UnitOfWork(Generic[Tx]):
    """Opens transactions on `pool`, each seen through `open_on(conn)`."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        relay: OutboxWaker,
        open_on: Callable[[asyncpg.Connection], Tx],
        group_commit: GroupCommit | None = None,
    ) -> None:
        self.pool = pool
        self._relay = relay
        self._open_on = open_on
        self._group_commit = group_commit

    @asynccontextmanager
    async def transaction(self, *, fresh_plans: bool = False) -> AsyncIterator[Tx]:
        """Everything done in the block commits together, or not at all; `fresh_plans` as
        `wallet_shared.platform.db.transaction` has it."""
        async with transaction(self.pool, fresh_plans=fresh_plans) as conn:
            tx = self._open_on(conn)
            yield tx
        if tx.published:
            self._relay.wake()

    @asynccontextmanager
    async def outside_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection on which each statement commits alone: for work that books nothing,
        or one statement's worth (it cannot publish: messages need the transaction they
        commit with)."""
        async with connection(self.pool) as conn:
            yield conn

    async def grouped(self, work: Callable[[Tx], Awaitable[T]], *, locks: Sequence[str] = ()) -> T:
        """`work` in a transaction shared with concurrent ones (group commit) when that is on,
        else in one of its own; the relay is woken once it committed. `locks`: the rows the work
        locks (the batch locks them all first, in order). `work` raises its refusals before its
        first write, and may run again (after a batch was rolled back)."""
        if self._group_commit is None:
            async with self.transaction() as tx:
                return await work(tx)
        published = False

        async def on_connection(conn: asyncpg.Connection) -> T:
            nonlocal published
            tx = self._open_on(conn)
            result = await work(tx)
            published = tx.published
            return result

        result = await self._group_commit.run(on_connection, locks=locks)
        if published:
            self._relay.wake()
        return result
