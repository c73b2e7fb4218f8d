"""SQL of the system-wide Idempotency-Key claims (table `idempotency_claims`)."""

from __future__ import annotations

import asyncpg
from wallet_shared.retention import ExpiringTable

CLAIMS: ExpiringTable = ExpiringTable("idempotency_claims", "claimed_at")
"""Claims expire with the stored answers they stand for."""


async def claim(conn: asyncpg.Connection, *, caller: str, key: str, fingerprint: str) -> str:
    """Claim `(caller, key)` for `fingerprint` unless claimed before; the fingerprint it holds.

    Two statements on purpose: a concurrent claim of the same key makes the INSERT wait for
    that transaction, and only a statement started after it (READ COMMITTED) sees its row.
    """
    await conn.execute(
        "INSERT INTO idempotency_claims (caller, key, fingerprint) VALUES ($1, $2, $3)"
        " ON CONFLICT (caller, key) DO NOTHING",
        caller,
        key,
        fingerprint,
    )
    held: str = await conn.fetchval(
        "SELECT fingerprint FROM idempotency_claims WHERE caller = $1 AND key = $2", caller, key
    )
    return held
