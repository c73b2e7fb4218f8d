"""Transfer legs in PostgreSQL: holds (debit legs) and pending credits (credit legs).

A batch of transfer commands names legs of both kinds: both tables are read with one statement
and written with one, whatever the batch holds, which is also the statement of the batch's
other writes (each statement is a round trip the batch waits for while it holds its wallets'
locks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import asyncpg
from wallet_shared.contracts.messages import Leg
from wallet_shared.platform.writes import Write

from wallet_shard.domain.transfer_legs import LegState, TransferLeg

_TABLE: Final = {Leg.DEBIT: "holds", Leg.CREDIT: "pending_credits"}
_COLUMNS: Final = "transfer_id, wallet_id, amount, currency, state, failure_code, tried"

_FIND: Final = f"""
SELECT 'debit' AS leg, {_COLUMNS}, created_at FROM holds WHERE transfer_id = ANY($1::text[])
UNION ALL
SELECT 'credit', {_COLUMNS}, created_at FROM pending_credits WHERE transfer_id = ANY($2::text[])
"""


def _upsert(table: str) -> str:
    """Insert new legs of `table` and write the state of resolved ones, from eight arrays."""
    arrays = ", ".join(
        f"${n}::{kind}[]"
        for n, kind in enumerate(
            ("text", "text", "bigint", "text", "text", "text", "boolean", "timestamptz"), start=1
        )
    )
    return (
        f"INSERT INTO {table} ({_COLUMNS}, created_at, updated_at)"
        f" SELECT {_COLUMNS}, coalesce(placed_at, now()), now()"
        f" FROM unnest({arrays}) AS t ({_COLUMNS}, placed_at)"
        " ON CONFLICT (transfer_id) DO UPDATE"
        " SET state = EXCLUDED.state, failure_code = EXCLUDED.failure_code,"
        "     tried = EXCLUDED.tried, updated_at = EXCLUDED.updated_at"
    )


_SAVE: Final = {leg: _upsert(table) for leg, table in _TABLE.items()}


def leg_table(leg: Leg) -> str:
    """The table of a leg: `holds` for debits, `pending_credits` for credits."""
    return _TABLE[leg]


class LegRepository:
    """Both legs' tables on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def find_many(self, transfer_ids: Mapping[Leg, Sequence[str]]) -> list[TransferLeg]:
        """The legs known for the transfer ids given per leg, in one statement.

        Not locked: read after the batch has locked the wallets its commands name, they are
        already serialised with every other writer of a leg that can move money. Locking them
        too would cost a tuple lock (and its WAL record) per command.
        """
        debits, credits = (list(transfer_ids.get(leg, ())) for leg in (Leg.DEBIT, Leg.CREDIT))
        if not (debits or credits):
            return []
        rows = await self._conn.fetch(_FIND, debits, credits)
        return [_leg_of(row) for row in rows]

    def saving(self, legs: Sequence[TransferLeg]) -> list[Write]:
        """The writes that insert new legs and store the state of resolved ones (an upsert per
        table that has legs among them), to send with the batch's other writes."""
        writes = []
        for leg in (Leg.DEBIT, Leg.CREDIT):
            if of_leg := [each for each in legs if each.leg is leg]:
                columns = (
                    [each.transfer_id for each in of_leg],
                    [each.wallet_id for each in of_leg],
                    [each.amount for each in of_leg],
                    [each.currency for each in of_leg],
                    [each.state.value for each in of_leg],
                    [each.failure_code for each in of_leg],
                    [each.tried for each in of_leg],
                    [each.placed_at for each in of_leg],
                )
                writes.append(Write(_SAVE[leg], columns))
        return writes

    async def any_active_on(self, leg: Leg, wallet_id: str) -> bool:
        """Whether an unresolved leg of kind `leg` still names the wallet."""
        return bool(
            await self._conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {_TABLE[leg]}"
                " WHERE wallet_id = $1 AND state = 'active')",
                wallet_id,
            )
        )


def _leg_of(row: asyncpg.Record) -> TransferLeg:
    return TransferLeg(
        transfer_id=row["transfer_id"],
        leg=Leg(row["leg"]),
        wallet_id=row["wallet_id"],
        amount=row["amount"],
        currency=row["currency"],
        state=LegState(row["state"]),
        failure_code=row["failure_code"],
        tried=row["tried"],
        placed_at=row["created_at"],
    )
