"""SQL of what the risk rules remember (`risk_movements`) and what they raised (`risk_flags`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg

from transfer_coordinator.domain.risk import Movement

_FLAG_COLUMNS: Final = "id, wallet_id, rule, transaction_id, transfer_id, detail, created_at"


async def recent_movements(
    conn: asyncpg.Connection, wallet_id: str, *, limit: int
) -> list[Movement]:
    """The wallet's latest remembered movements, newest first."""
    rows = await conn.fetch(
        "SELECT wallet_id, kind, amount, at, transaction_id, transfer_id, destination"
        " FROM risk_movements WHERE wallet_id = $1 ORDER BY at DESC LIMIT $2",
        wallet_id,
        limit,
    )
    return [
        Movement(
            wallet_id=row["wallet_id"],
            kind=row["kind"],
            amount=int(row["amount"]),
            at=row["at"],
            transaction_id=row["transaction_id"],
            transfer_id=row["transfer_id"],
            destination=row["destination"],
        )
        for row in rows
    ]


async def remember(conn: asyncpg.Connection, event_id: str, movement: Movement) -> bool:
    """Remember a movement once per event; False when this event was seen before."""
    inserted = await conn.fetchval(
        "INSERT INTO risk_movements (event_id, wallet_id, kind, amount, at, transaction_id,"
        " transfer_id, destination) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING 1",
        event_id,
        movement.wallet_id,
        movement.kind,
        movement.amount,
        movement.at,
        movement.transaction_id,
        movement.transfer_id,
        movement.destination,
    )
    return inserted is not None


async def add_flags(conn: asyncpg.Connection, flags: Sequence[dict[str, Any]]) -> None:
    """Store flags given as their public JSON (`created_at` as a datetime)."""
    if not flags:
        return
    await conn.executemany(
        f"INSERT INTO risk_flags ({_FLAG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (f["id"], f["wallet_id"], f["rule"], f["transaction_id"], f["transfer_id"],
             f["detail"], f["created_at"])
            for f in flags
        ],
    )  # fmt: skip


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
