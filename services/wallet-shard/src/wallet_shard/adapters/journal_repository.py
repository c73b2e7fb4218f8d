"""Journal transactions and their entries in PostgreSQL (append-only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson

from wallet_shard.domain.journal import JournalTransaction

_INSERT_TRANSACTIONS: Final = """
INSERT INTO journal_transactions
    (id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata, created_at)
SELECT id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata::jsonb,
       created_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
            $7::text[], $8::text[], $9::timestamptz[]) WITH ORDINALITY
     AS t (id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata,
           created_at, position)
ORDER BY position
"""

_INSERT_ENTRIES: Final = """
INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
"""

_COLUMNS: Final = (
    "seq, id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata, created_at"
)


@dataclass(frozen=True, slots=True)
class PostedTransaction:
    """A journal transaction as lists show it (entries left out), with its position `seq`."""

    seq: int
    id: str
    wallet_id: str
    type: str
    amount: int
    balance_after: int
    reference: str | None
    transfer_id: str | None
    metadata: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Which of a wallet's transactions a list shows: `since` inclusive, `until` exclusive."""

    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class JournalRepository:
    """Journal rows of one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, transactions: Sequence[JournalTransaction]) -> None:
        """Append `transactions` and all their entries: two statements whatever their number."""
        if not transactions:
            return
        await self._conn.execute(
            _INSERT_TRANSACTIONS,
            [t.id for t in transactions],
            [t.wallet_id for t in transactions],
            [t.type for t in transactions],
            [t.amount for t in transactions],
            [t.balance_after for t in transactions],
            [t.reference for t in transactions],
            [t.transfer_id for t in transactions],
            [
                None if t.metadata is None else orjson.dumps(t.metadata).decode()
                for t in transactions
            ],
            [t.created_at for t in transactions],
        )
        entries = [(t, entry) for t in transactions for entry in t.entries]
        await self._conn.execute(
            _INSERT_ENTRIES,
            [t.id for t, _ in entries],
            [entry.account for _, entry in entries],
            [entry.currency for _, entry in entries],
            [entry.amount for _, entry in entries],
            [t.created_at for t, _ in entries],
        )

    async def newest_first(
        self,
        wallet_id: str,
        *,
        before_seq: int | None,
        limit: int,
        only: TransactionFilter,
    ) -> list[PostedTransaction]:
        """A wallet's transactions newest first (by `seq`), strictly before `before_seq`."""
        arguments: list[Any] = [wallet_id]
        conditions = ["wallet_id = $1"]
        for clause, value in (
            ("seq < ${}", before_seq),
            ("type = ${}", only.type),
            ("created_at >= ${}", only.since),
            ("created_at < ${}", only.until),
        ):
            if value is not None:
                arguments.append(value)
                conditions.append(clause.format(len(arguments)))
        arguments.append(limit)
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM journal_transactions WHERE {' AND '.join(conditions)}"
            f" ORDER BY seq DESC LIMIT ${len(arguments)}",
            *arguments,
        )
        return [PostedTransaction(**dict(row)) for row in rows]
