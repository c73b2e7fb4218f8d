"""SQL of what the risk rules remember (`risk_movements`) and what they raised (`risk_flags`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg
from wallet_shared.platform.writes import Write

from transfer_coordinator.domain.risk import Movement

_MOVEMENT_COLUMNS: Final = (
    "wallet_id", "kind", "amount", "at", "transaction_id", "transfer_id", "destination",
)  # fmt: skip
_FLAG_FIELDS: Final = (
    "id", "wallet_id", "rule", "transaction_id", "transfer_id", "detail", "created_at",
)  # fmt: skip
_FLAG_COLUMNS: Final = ", ".join(_FLAG_FIELDS)
_INSERT_FLAGS: Final = f"""
INSERT INTO risk_flags ({_FLAG_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                     $7::timestamptz[])
"""


async def recent_movements_of(
    conn: asyncpg.Connection, wallet_ids: Collection[str], *, limit: int
) -> dict[str, list[tuple[str, Movement]]]:
    """Each wallet's latest remembered movements (event id, movement), newest first."""
    rows = await conn.fetch(
        # Per wallet, the first `limit` rows of the index (wallet_id, at DESC): what it
        # reads stays bounded however long a wallet's history grows.
        "SELECT m.event_id, m.wallet_id, m.kind, m.amount, m.at, m.transaction_id,"
        "       m.transfer_id, m.destination"
        " FROM unnest($1::text[]) AS asked (wallet_id)"
        " CROSS JOIN LATERAL (SELECT * FROM risk_movements AS r WHERE r.wallet_id = asked.wallet_id"
        "                     ORDER BY r.at DESC LIMIT $2) AS m"
        " ORDER BY m.wallet_id, m.at DESC",
        list(wallet_ids),
        limit,
    )
    found: dict[str, list[tuple[str, Movement]]] = {}
    for row in rows:
        movement = Movement(
            wallet_id=row["wallet_id"],
            kind=row["kind"],
            amount=int(row["amount"]),
            at=row["at"],
            transaction_id=row["transaction_id"],
            transfer_id=row["transfer_id"],
            destination=row["destination"],
        )
        found.setdefault(movement.wallet_id, []).append((row["event_id"], movement))
    return found


async def remember_all(
    conn: asyncpg.Connection, movements: Sequence[tuple[str, Movement]]
) -> set[str]:
    """Remember movements once per event; the event ids not seen before."""
    if not movements:
        return set()
    rows = await conn.fetch(
        "INSERT INTO risk_movements (event_id, wallet_id, kind, amount, at, transaction_id,"
        " transfer_id, destination)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[],"
        "                      $5::timestamptz[], $6::text[], $7::text[], $8::text[])"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        [event_id for event_id, _ in movements],
        *([getattr(m, name) for _, m in movements] for name in _MOVEMENT_COLUMNS),
    )
    return {row["event_id"] for row in rows}


def adding_flags(flags: Sequence[dict[str, Any]]) -> list[Write]:
    """The write that stores flags given as their public JSON (`created_at` as a datetime),
    however many (under a busy wallet's traffic most movements of a batch are flagged), to send
    with the batch's other writes (their events); none for no flag."""
    if not flags:
        return []
    return [Write(_INSERT_FLAGS, tuple([flag[name] for flag in flags] for name in _FLAG_FIELDS))]


async def flags_page(
    pool: asyncpg.Pool,
    *,
    wallet_id: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    after_time, after_id = before if before else (None, None)
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {_FLAG_COLUMNS} FROM risk_flags"
        " WHERE ($1::text IS NULL OR wallet_id = $1)"
        " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
        wallet_id,
        after_time,
        after_id,
        limit,
    )
    return rows
