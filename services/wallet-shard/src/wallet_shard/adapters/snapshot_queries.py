"""The wallet row's snapshot columns against the rows they sum: `balance` against the wallet's
journal entries, `frozen` against its active holds, `incoming` against its active pending
credits. Read by `wallet ledger verify` (in one REPEATABLE READ snapshot) and written by
`wallet ledger rebuild` (one wallet at a time, under its row lock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg

RECOMPUTED_SNAPSHOTS: Final = """
entry_totals AS (
    SELECT account, sum(amount) AS total FROM journal_entries
    WHERE account NOT LIKE 'system:%' GROUP BY account
), hold_totals AS (
    SELECT wallet_id, sum(amount) AS total FROM holds WHERE state = 'active' GROUP BY wallet_id
), pending_credit_totals AS (
    SELECT wallet_id, sum(amount) AS total FROM pending_credits
    WHERE state = 'active' GROUP BY wallet_id
), recomputed AS (
    SELECT w.id, w.balance, w.frozen, w.incoming,
           coalesce(e.total, 0) AS entries_total, coalesce(h.total, 0) AS holds_total,
           coalesce(p.total, 0) AS pending_credits_total
    FROM wallets w
    LEFT JOIN entry_totals e ON e.account = w.id
    LEFT JOIN hold_totals h ON h.wallet_id = w.id
    LEFT JOIN pending_credit_totals p ON p.wallet_id = w.id
)
"""
"""The common table expressions (after a `WITH`) of every wallet's snapshot columns beside what
its rows sum to, as `recomputed`: one pass over the entries, the active legs (partial indexes)
and the wallets. The ledger verification and the integrity check both start from it."""

# Every wallet whose snapshot differs, each column on its own line.
_DIFFERENCES: Final = f"""
WITH {RECOMPUTED_SNAPSHOTS}
SELECT id, column_name, snapshot, recomputed FROM (
    SELECT id, 'balance' AS column_name, balance AS snapshot, entries_total AS recomputed
    FROM recomputed WHERE balance <> entries_total
    UNION ALL
    SELECT id, 'frozen', frozen, holds_total FROM recomputed WHERE frozen <> holds_total
    UNION ALL
    SELECT id, 'incoming', incoming, pending_credits_total FROM recomputed
    WHERE incoming <> pending_credits_total
) AS differing
ORDER BY id, column_name
LIMIT $1
"""

_OPEN_LEGS: Final = """
SELECT transfer_id, 'debit' AS leg, wallet_id, amount, currency FROM holds WHERE state = 'active'
UNION ALL
SELECT transfer_id, 'credit', wallet_id, amount, currency FROM pending_credits
WHERE state = 'active'
ORDER BY transfer_id, leg
"""

_LOCK_ONE: Final = "SELECT balance, frozen, incoming FROM wallets WHERE id = $1 FOR UPDATE"

# A statement of its own, after the lock: in READ COMMITTED it takes a fresh snapshot, so it sees
# every movement committed by whoever held the wallet's lock before. The wallet's entries are
# found through its transactions (`journal_transactions_by_wallet`, then
# `journal_entries_by_transaction`), not by account, which has no index: every writer books a
# wallet's entry in a transaction of that wallet (`postings.posting_against`, the one place
# entries on a wallet account are made: deposits, withdrawals, purchases, refunds, reversals,
# both sides of transfers and local transfers), as `_RUNNING_BALANCES` of the integrity check
# also assumes. The lock is held for a probe per transaction of the wallet, not a journal scan.
_SUMS_OF_ONE: Final = """
SELECT (SELECT coalesce(sum(e.amount), 0)
        FROM journal_transactions t
        JOIN journal_entries e ON e.transaction_id = t.id AND e.account = t.wallet_id
        WHERE t.wallet_id = $1) AS entries,
       (SELECT count(*) FROM holds WHERE wallet_id = $1 AND state = 'active') AS open_holds,
       (SELECT count(*) FROM pending_credits WHERE wallet_id = $1 AND state = 'active')
           AS open_credits
"""


@dataclass(frozen=True, slots=True)
class SnapshotDifference:
    wallet_id: str
    column: str
    snapshot: int
    recomputed: int


@dataclass(frozen=True, slots=True)
class LegRow:
    transfer_id: str
    leg: str
    wallet_id: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class LockedSnapshot:
    """A wallet's snapshot columns, what its entries sum to and its open legs, read under the
    wallet's row lock (so no movement of the wallet runs until the transaction ends)."""

    balance: int
    frozen: int
    incoming: int
    entries_total: int
    open_holds: int
    open_credits: int


class SnapshotQueries:
    """On one connection (a snapshot transaction to verify, a write transaction to rebuild)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def wallet_count(self) -> int:
        return int(await self._conn.fetchval("SELECT count(*) FROM wallets"))

    async def differences(self, *, limit: int) -> list[SnapshotDifference]:
        """Wallets whose snapshot columns differ from their rows, at most `limit` lines."""
        rows = await self._conn.fetch(_DIFFERENCES, limit)
        return [
            SnapshotDifference(
                row["id"], row["column_name"], int(row["snapshot"]), int(row["recomputed"])
            )
            for row in rows
        ]

    async def open_legs(self) -> list[LegRow]:
        """Every active hold and pending credit."""
        return [
            LegRow(row["transfer_id"], row["leg"], row["wallet_id"], row["amount"], row["currency"])
            for row in await self._conn.fetch(_OPEN_LEGS)
        ]

    async def wallet_ids_after(self, after: str | None, *, limit: int) -> list[str]:
        """The next `limit` wallet ids in id order after `after` (from the first when None)."""
        # Two statements, not `$1 IS NULL OR id > $1`: a generic plan of that cannot use the
        # primary key's range, and would read every wallet for each page.
        if after is None:
            rows = await self._conn.fetch("SELECT id FROM wallets ORDER BY id LIMIT $1", limit)
        else:
            rows = await self._conn.fetch(
                "SELECT id FROM wallets WHERE id > $1 ORDER BY id LIMIT $2", after, limit
            )
        return [row["id"] for row in rows]

    async def lock_and_recompute(self, wallet_id: str) -> LockedSnapshot | None:
        """Lock the wallet's row, then read what rebuilding it needs; None: no such wallet."""
        wallet = await self._conn.fetchrow(_LOCK_ONE, wallet_id)
        if wallet is None:
            return None
        sums = await self._conn.fetchrow(_SUMS_OF_ONE, wallet_id)
        assert sums is not None  # an aggregate row always comes back
        return LockedSnapshot(
            balance=wallet["balance"],
            frozen=wallet["frozen"],
            incoming=wallet["incoming"],
            entries_total=int(sums["entries"]),
            open_holds=int(sums["open_holds"]),
            open_credits=int(sums["open_credits"]),
        )

    async def write_snapshot(self, wallet_id: str, *, balance: int) -> None:
        """Set the wallet's balance; no leg is open (the caller checked), so no hold or pending
        credit counts. `updated_at` is left alone: it is the wallet's, not the repair's."""
        await self._conn.execute(
            "UPDATE wallets SET balance = $2, frozen = 0, incoming = 0 WHERE id = $1",
            wallet_id,
            balance,
        )
