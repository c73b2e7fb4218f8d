"""Local (same-shard) transfers in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import asyncpg
from wallet_shared.platform.writes import Write

from wallet_shard.domain.local_transfers import LocalTransfer

_COLUMNS: Final = (
    "id, source_wallet_id, destination_wallet_id, amount, currency, description, status,"
    " failure_code, initiator, created_at, updated_at"
)

_INSERT: Final = f"""
INSERT INTO local_transfers ({_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])
"""

# Each side is an index scan of its own; the union is cut to the page.
_LIST_FOR_WALLET: Final = f"""
SELECT {_COLUMNS} FROM (
    (SELECT {_COLUMNS} FROM local_transfers
     WHERE source_wallet_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
     ORDER BY created_at DESC, id DESC LIMIT $4)
    UNION ALL
    (SELECT {_COLUMNS} FROM local_transfers
     WHERE destination_wallet_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
     ORDER BY created_at DESC, id DESC LIMIT $4)
) AS both_sides
ORDER BY created_at DESC, id DESC
LIMIT $4
"""


class LocalTransferRepository:
    """The `local_transfers` table on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def adding(self, transfers: Sequence[LocalTransfer]) -> list[Write]:
        """The write that records booked (final) local transfers, to send with the batch's
        other writes; none for no transfer."""
        if not transfers:
            return []
        columns = tuple(list(column) for column in zip(*(_row(t) for t in transfers), strict=True))
        return [Write(_INSERT, columns)]

    async def get(self, transfer_id: str) -> LocalTransfer | None:
        """One local transfer, or None."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM local_transfers WHERE id = $1", transfer_id
        )
        return None if row is None else _transfer(row)

    async def list_for_wallet(
        self, wallet_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> list[LocalTransfer]:
        """A wallet's local transfers (either side), newest first, strictly after `after`."""
        at, last_id = after if after is not None else (None, None)
        rows = await self._conn.fetch(_LIST_FOR_WALLET, wallet_id, at, last_id, limit)
        return [_transfer(row) for row in rows]


def _row(transfer: LocalTransfer) -> tuple[object, ...]:
    return (
        transfer.id,
        transfer.source_wallet_id,
        transfer.destination_wallet_id,
        transfer.amount,
        transfer.currency,
        transfer.description,
        transfer.status,
        transfer.failure_code,
        transfer.initiator,
        transfer.created_at,
        transfer.updated_at,
    )


def _transfer(row: asyncpg.Record) -> LocalTransfer:
    return LocalTransfer(**dict(row))
