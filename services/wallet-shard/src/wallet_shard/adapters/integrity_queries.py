"""Set-based checks of a shard's ledger (each one statement over whole tables, no per-row loop).

Run them inside one repeatable-read transaction so that they all see the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.messages import Leg

from wallet_shard.adapters.leg_repository import leg_table
from wallet_shard.adapters.snapshot_queries import RECOMPUTED_SNAPSHOTS

_TOTALS: Final = """
SELECT currency,
       CASE WHEN account LIKE 'system:%' THEN split_part(account, ':', 2) ELSE 'wallet' END
           AS kind,
       sum(amount) AS total
FROM journal_entries
GROUP BY 1, 2
"""

_WALLET_MISMATCHES: Final = f"""
WITH {RECOMPUTED_SNAPSHOTS}
SELECT id, balance, frozen, incoming, entries_total, holds_total, pending_credits_total
FROM recomputed
WHERE balance <> entries_total
   OR frozen <> holds_total
   OR incoming <> pending_credits_total
   OR balance - frozen < 0
ORDER BY id
LIMIT $1
"""

_STRAY_ENTRIES: Final = """
SELECT DISTINCT e.account, e.currency
FROM journal_entries e
LEFT JOIN wallets w ON w.id = e.account
WHERE CASE WHEN e.account LIKE 'system:%'
           THEN split_part(e.account, ':', 3) <> e.currency
                OR split_part(e.account, ':', 2)
                   NOT IN ('cash_in', 'cash_out', 'merchant', 'clearing')
           ELSE w.id IS NULL OR w.currency <> e.currency
      END
ORDER BY 1, 2
LIMIT $1
"""

_BAD_TRANSACTIONS: Final = """
WITH per_currency AS (
    SELECT transaction_id, sum(amount) AS total, count(*) AS entries
    FROM journal_entries GROUP BY transaction_id, currency
), per_transaction AS (
    SELECT transaction_id, sum(entries) AS entries, bool_or(total <> 0) AS unbalanced
    FROM per_currency GROUP BY transaction_id
)
SELECT t.id, coalesce(p.entries, 0) AS entries, coalesce(p.unbalanced, false) AS unbalanced
FROM journal_transactions t
LEFT JOIN per_transaction p ON p.transaction_id = t.id
WHERE p.transaction_id IS NULL OR p.entries < 2 OR p.unbalanced
ORDER BY t.id
LIMIT $1
"""

_BOOKED_TWICE: Final = """
SELECT transfer_id, type, count(*) AS times
FROM journal_transactions
WHERE transfer_id IS NOT NULL
GROUP BY transfer_id, type
HAVING count(*) > 1
ORDER BY 1, 2
LIMIT $1
"""

# A confirmed leg must have exactly its booking (and a booking its confirmed leg).
_UNMATCHED_BOOKINGS: Final = """
SELECT coalesce(l.transfer_id, t.transfer_id) AS transfer_id,
       l.transfer_id IS NOT NULL AS leg_confirmed
FROM (SELECT transfer_id FROM {table} WHERE state = 'confirmed') l
FULL JOIN (SELECT transfer_id FROM journal_transactions WHERE type = $2) t
       ON t.transfer_id = l.transfer_id
WHERE l.transfer_id IS NULL OR t.transfer_id IS NULL
ORDER BY 1
LIMIT $1
"""

# What refunds (not reversed since) gave back of each purchase, and whether it was reversed,
# must be what its row says: the row is what refunds are checked against.
_PURCHASE_MISMATCHES: Final = """
WITH kept_refunds AS (
    SELECT r.related_id AS purchase_id, sum(r.amount) AS total
    FROM journal_transactions r
    WHERE r.type = 'refund'
      AND NOT EXISTS (SELECT 1 FROM journal_transactions v
                      WHERE v.type = 'reversal' AND v.related_id = r.id)
    GROUP BY r.related_id
)
SELECT p.transaction_id, p.amount, p.refunded, coalesce(k.total, 0) AS refunds_total
FROM purchases p
LEFT JOIN kept_refunds k ON k.purchase_id = p.transaction_id
WHERE p.refunded <> coalesce(k.total, 0)
   OR p.refunded > p.amount
   OR p.reversed <> EXISTS (SELECT 1 FROM journal_transactions v
                            WHERE v.type = 'reversal' AND v.related_id = p.transaction_id)
ORDER BY 1
LIMIT $1
"""

# Each transaction's `balance_after` (what balance?at= answers) must be the running sum of the
# wallet's entries in the wallet's order.
_RUNNING_BALANCES: Final = """
WITH running AS (
    SELECT t.id, t.balance_after,
           sum(e.amount) OVER (PARTITION BY t.wallet_id ORDER BY t.created_at, t.seq)
               AS entries_total
    FROM journal_transactions t
    JOIN journal_entries e ON e.transaction_id = t.id AND e.account = t.wallet_id
)
SELECT id, balance_after, entries_total FROM running
WHERE balance_after <> entries_total
ORDER BY id
LIMIT $1
"""

# The clearing account moves only with transfer legs: a confirmed debit puts its amount in, a
# confirmed credit takes it out. Any other write to it is money appearing or vanishing there.
_CLEARING_MISMATCHES: Final = """
WITH clearing AS (
    SELECT currency, sum(amount) AS total FROM journal_entries
    WHERE account LIKE 'system:clearing:%' GROUP BY currency
), legs AS (
    SELECT currency, sum(amount) AS total FROM (
        SELECT currency, amount FROM holds WHERE state = 'confirmed'
        UNION ALL
        SELECT currency, -amount FROM pending_credits WHERE state = 'confirmed'
    ) AS confirmed GROUP BY currency
)
SELECT coalesce(c.currency, l.currency) AS currency,
       coalesce(c.total, 0) AS clearing, coalesce(l.total, 0) AS legs
FROM clearing c FULL JOIN legs l ON l.currency = c.currency
WHERE coalesce(c.total, 0) <> coalesce(l.total, 0)
ORDER BY 1
"""

_BOOKING_TYPE: Final = {Leg.DEBIT: "transfer_out", Leg.CREDIT: "transfer_in"}

# The confirmed legs of the sagas the integrity check's cut reads one by one: those whose ids
# are from `recent_from` on (byte order: ids begin with their time), and those named. Legs of
# transfers within this shard (local ids carry a bucket, so are longer) net to zero here.
_CLEARING_LEGS: Final = """
SELECT transfer_id, 'debit' AS leg, amount, currency FROM holds
WHERE state = 'confirmed' AND length(transfer_id) = $3
  AND (transfer_id COLLATE "C" >= $1 OR transfer_id = ANY($2::text[]))
UNION ALL
SELECT transfer_id, 'credit', amount, currency FROM pending_credits
WHERE state = 'confirmed' AND length(transfer_id) = $3
  AND (transfer_id COLLATE "C" >= $1 OR transfer_id = ANY($2::text[]))
ORDER BY 1, 2
"""
_SAGA_ID_LENGTH: Final = len(new_transfer_id())


@dataclass(frozen=True, slots=True)
class WalletMismatch:
    wallet_id: str
    balance: int
    frozen: int
    entries_total: int
    holds_total: int
    incoming: int = 0
    pending_credits_total: int = 0


@dataclass(frozen=True, slots=True)
class BadTransaction:
    transaction_id: str
    entries: int
    unbalanced: bool


class IntegrityQueries:
    """The shard's consistency checks on one connection (ideally in a snapshot transaction)."""

    def __init__(self, conn: asyncpg.Connection, *, limit: int = 100) -> None:
        self._conn = conn
        self._limit = limit

    async def totals(self) -> dict[str, dict[str, int]]:
        """Per currency, the sum of entries per account kind (`wallet`, `cash_in`, ...)."""
        totals: dict[str, dict[str, int]] = {}
        for row in await self._conn.fetch(_TOTALS):
            totals.setdefault(row["currency"], {})[row["kind"]] = int(row["total"])
        return totals

    async def wallet_mismatches(self) -> list[WalletMismatch]:
        """Wallets whose snapshot disagrees with their entries or holds, or is overdrawn."""
        rows = await self._conn.fetch(_WALLET_MISMATCHES, self._limit)
        return [
            WalletMismatch(
                row["id"],
                row["balance"],
                row["frozen"],
                int(row["entries_total"]),
                int(row["holds_total"]),
                row["incoming"],
                int(row["pending_credits_total"]),
            )
            for row in rows
        ]

    async def stray_entries(self) -> list[tuple[str, str]]:
        """(account, currency) of entries on no known account, or in the account's wrong currency."""
        rows = await self._conn.fetch(_STRAY_ENTRIES, self._limit)
        return [(row["account"], row["currency"]) for row in rows]

    async def bad_transactions(self) -> list[BadTransaction]:
        """Journal transactions with fewer than two entries or unbalanced in some currency."""
        rows = await self._conn.fetch(_BAD_TRANSACTIONS, self._limit)
        return [BadTransaction(row["id"], int(row["entries"]), row["unbalanced"]) for row in rows]

    async def transfers_booked_twice(self) -> list[tuple[str, str, int]]:
        rows = await self._conn.fetch(_BOOKED_TWICE, self._limit)
        return [(row["transfer_id"], row["type"], row["times"]) for row in rows]

    async def clearing_mismatches(self) -> list[tuple[str, int, int]]:
        """(currency, clearing balance, what the confirmed legs account for) where they differ."""
        rows = await self._conn.fetch(_CLEARING_MISMATCHES)
        return [(row["currency"], int(row["clearing"]), int(row["legs"])) for row in rows]

    async def unmatched_bookings(self, leg: Leg) -> list[tuple[str, bool]]:
        """(transfer id, whether the leg is the confirmed side) where leg and booking disagree."""
        rows = await self._conn.fetch(
            _UNMATCHED_BOOKINGS.format(table=leg_table(leg)), self._limit, _BOOKING_TYPE[leg]
        )
        return [(row["transfer_id"], row["leg_confirmed"]) for row in rows]

    async def purchase_mismatches(self) -> list[tuple[str, int, int, int]]:
        """(purchase, amount, refunded on its row, refunds in the journal) that disagree."""
        rows = await self._conn.fetch(_PURCHASE_MISMATCHES, self._limit)
        return [
            (row["transaction_id"], row["amount"], row["refunded"], int(row["refunds_total"]))
            for row in rows
        ]

    async def running_balance_mismatches(self) -> list[tuple[str, int, int]]:
        """(transaction, balance_after, running sum of its wallet's entries) that disagree."""
        rows = await self._conn.fetch(_RUNNING_BALANCES, self._limit)
        return [(row["id"], row["balance_after"], int(row["entries_total"])) for row in rows]

    async def clearing_legs(
        self, recent_from: str | None, transfer_ids: list[str]
    ) -> list[tuple[str, Leg, int, str]]:
        """(transfer id, leg, amount, currency) of the confirmed legs of sagas with ids from
        `recent_from` on (none when None) or among `transfer_ids`."""
        rows = await self._conn.fetch(_CLEARING_LEGS, recent_from, transfer_ids, _SAGA_ID_LENGTH)
        return [
            (row["transfer_id"], Leg(row["leg"]), row["amount"], row["currency"]) for row in rows
        ]

    async def active_transfer_ids(self, leg: Leg) -> list[str]:
        """Transfers with an unresolved hold (debit) or pending credit (credit) here."""
        rows = await self._conn.fetch(
            f"SELECT transfer_id FROM {leg_table(leg)} WHERE state = 'active' ORDER BY transfer_id"
        )
        return [row["transfer_id"] for row in rows]
