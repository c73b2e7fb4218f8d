"""Reads of a wallet's journal over time: the balance at an instant, and a period's transactions
streamed oldest first (a server-side cursor: constant memory whatever the period's size).

Each journal transaction records the wallet's balance after it (`balance_after`, written in the
same DB transaction as its entries; the integrity check proves the two agree), so the balance at
any instant is one index probe on `journal_transactions_by_wallet_time`, not a sum over history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final

import asyncpg

from wallet_shard.adapters.journal_repository import PostedTransaction

STREAM_PREFETCH: Final = 500

_BALANCE_AT: Final = """
SELECT balance_after FROM journal_transactions
WHERE wallet_id = $1 AND created_at <= $2
ORDER BY created_at DESC, seq DESC
LIMIT 1
"""

_BALANCE_BEFORE: Final = """
SELECT balance_after FROM journal_transactions
WHERE wallet_id = $1 AND created_at < $2
ORDER BY created_at DESC, seq DESC
LIMIT 1
"""

_PERIOD: Final = """
SELECT seq, id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata,
       created_at, metadata ->> 'reversed_type' AS reversed_type
FROM journal_transactions
WHERE wallet_id = $1 AND created_at >= $2 AND created_at < $3
ORDER BY created_at, seq
"""

# Before any entry: "from the wallet's first entry" without a second query.
_BEGINNING: Final = datetime(1, 1, 1, tzinfo=UTC)


class LedgerViews:
    """Point-in-time reads of one connection's journal."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def balance_at(self, wallet_id: str, at: datetime) -> int:
        """The balance after every transaction posted at or before `at` (0 before the first)."""
        balance = await self._conn.fetchval(_BALANCE_AT, wallet_id, at)
        return 0 if balance is None else int(balance)

    async def balance_before(self, wallet_id: str, at: datetime | None) -> int:
        """The balance after every transaction posted strictly before `at`."""
        if at is None:
            return 0
        balance = await self._conn.fetchval(_BALANCE_BEFORE, wallet_id, at)
        return 0 if balance is None else int(balance)

    async def period(
        self, wallet_id: str, *, since: datetime | None, until: datetime
    ) -> AsyncIterator[tuple[PostedTransaction, str | None]]:
        """The wallet's transactions with `since <= created_at < until`, oldest first, each
        with the type it reverses (reversals only). Needs an open transaction on the
        connection (server-side cursor)."""
        cursor = self._conn.cursor(
            _PERIOD, wallet_id, since or _BEGINNING, until, prefetch=STREAM_PREFETCH
        )
        async for row in cursor:
            record = dict(row)
            reversed_type = record.pop("reversed_type")
            yield PostedTransaction(**record), reversed_type
