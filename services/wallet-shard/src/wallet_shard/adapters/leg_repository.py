"""Holds (debit legs) and pending credits (credit legs) in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg
from wallet_shared.contracts.messages import Leg

from wallet_shard.domain.transfer_legs import LegState, TransferLeg

_TABLE: Final = {Leg.DEBIT: "holds", Leg.CREDIT: "pending_credits"}
_COLUMNS: Final = "transfer_id, wallet_id, amount, currency, state, failure_code, tried"


def leg_table(leg: Leg) -> str:
    """The table of a leg: `holds` for debits, `pending_credits` for credits."""
    return _TABLE[leg]


class LegRepository:
    """One leg's table (`holds` or `pending_credits`) on one connection."""

    def __init__(self, conn: asyncpg.Connection, leg: Leg) -> None:
        self._conn = conn
        self._leg = leg
        self._table = _TABLE[leg]

    async def find_many(self, transfer_ids: Sequence[str]) -> list[TransferLeg]:
        """The legs known for `transfer_ids`.

        Not locked: read after the batch has locked the wallets its commands name, they are
        already serialised with every other writer of a leg that can move money. Locking them
        too would cost a tuple lock (and its WAL record) per command.
        """
        if not transfer_ids:
            return []
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS}, created_at FROM {self._table} WHERE transfer_id = ANY($1::text[])",
            list(transfer_ids),
        )
        return [self._leg_of(row) for row in rows]

    async def save(self, legs: Sequence[TransferLeg]) -> None:
        """Insert new legs and write the state of resolved ones, in one statement."""
        if not legs:
            return
        await self._conn.execute(
            f"INSERT INTO {self._table} ({_COLUMNS}, created_at, updated_at)"
            f" SELECT {_COLUMNS}, coalesce(placed_at, now()), now()"
            " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
            "             $6::text[], $7::boolean[], $8::timestamptz[])"
            f"   AS t ({_COLUMNS}, placed_at)"
            " ON CONFLICT (transfer_id) DO UPDATE"
            " SET state = EXCLUDED.state, failure_code = EXCLUDED.failure_code,"
            "     tried = EXCLUDED.tried, updated_at = EXCLUDED.updated_at",
            [leg.transfer_id for leg in legs],
            [leg.wallet_id for leg in legs],
            [leg.amount for leg in legs],
            [leg.currency for leg in legs],
            [leg.state.value for leg in legs],
            [leg.failure_code for leg in legs],
            [leg.tried for leg in legs],
            [leg.placed_at for leg in legs],
        )

    async def any_active_on(self, wallet_id: str) -> bool:
        """Whether an unresolved leg still names the wallet."""
        return bool(
            await self._conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {self._table}"
                " WHERE wallet_id = $1 AND state = 'active')",
                wallet_id,
            )
        )

    def _leg_of(self, row: asyncpg.Record) -> TransferLeg:
        return TransferLeg(
            transfer_id=row["transfer_id"],
            leg=self._leg,
            wallet_id=row["wallet_id"],
            amount=row["amount"],
            currency=row["currency"],
            state=LegState(row["state"]),
            failure_code=row["failure_code"],
            tried=row["tried"],
            placed_at=row["created_at"],
        )
