"""Journal transactions and their entries in PostgreSQL (append-only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson
from wallet_shared.platform.writes import Write

from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.reversals import ReversalTarget

# Transactions and their entries in one statement (one round trip), with the batch's other
# writes when it has some (`write_together`), in an order PostgreSQL does not promise: the
# entries may go in first; their foreign key is checked at the end of the statement, once both
# are in. The transactions go in the order given, which is the order of their `seq`.
_INSERT_TRANSACTIONS: Final = """
INSERT INTO journal_transactions
    (id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata, created_at,
     related_id)
SELECT id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata::jsonb,
       created_at, related_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
            $7::text[], $8::text[], $9::timestamptz[], $10::text[]) WITH ORDINALITY
     AS t (id, wallet_id, type, amount, balance_after, reference, transfer_id, metadata,
           created_at, related_id, position)
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

    def adding(self, transactions: Sequence[JournalTransaction]) -> list[Write]:
        """The writes that append `transactions` and all their entries, whatever their number,
        to send with the batch's other writes; none for no transaction."""
        if not transactions:
            return []
        entries = [(t, entry) for t in transactions for entry in t.entries]
        return [
            Write(
                _INSERT_TRANSACTIONS,
                (
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
                    [t.related_id for t in transactions],
                ),
            ),
            Write(
                _INSERT_ENTRIES,
                (
                    [t.id for t, _ in entries],
                    [entry.account for _, entry in entries],
                    [entry.currency for _, entry in entries],
                    [entry.amount for _, entry in entries],
                    [t.created_at for t, _ in entries],
                ),
            ),
        ]

    async def newest_first(
        self,
        wallet_id: str,
        *,
        before: tuple[datetime, int] | None,
        limit: int,
        only: TransactionFilter,
    ) -> list[PostedTransaction]:
        """A wallet's transactions newest first by `(created_at, seq)`, strictly before the
        position `before`. Every combination of filters walks one index
        (`..._by_wallet_time`, or `..._by_wallet_type_time` with a type) in its order."""
        arguments: list[Any] = [wallet_id]
        conditions = ["wallet_id = $1"]
        if before is not None:
            arguments += list(before)
            conditions.append(f"(created_at, seq) < (${len(arguments) - 1}, ${len(arguments)})")
        for clause, value in (
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
            f" ORDER BY created_at DESC, seq DESC LIMIT ${len(arguments)}",
            *arguments,
        )
        return [PostedTransaction(**dict(row)) for row in rows]

    async def reversal_target(self, transaction_id: str) -> ReversalTarget | None:
        """The transaction a reversal names, and whether it was reversed already."""
        row = await self._conn.fetchrow(
            "SELECT t.id, t.wallet_id, t.type, t.amount, t.related_id,"
            "       EXISTS (SELECT 1 FROM journal_transactions r"
            "               WHERE r.related_id = t.id AND r.type = 'reversal') AS reversed"
            " FROM journal_transactions t WHERE t.id = $1",
            transaction_id,
        )
        return None if row is None else ReversalTarget(**dict(row))
