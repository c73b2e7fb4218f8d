"""SQL of the system-wide Idempotency-Key claims (table `idempotency_claims`)."""

from __future__ import annotations

import asyncpg
from wallet_shared.platform.retention import ExpiringTable

CLAIMS: ExpiringTable = ExpiringTable("idempotency_claims", "claimed_at")
"""Claims expire with the stored answers they stand for."""


async def claim(conn: asyncpg.Connection, *, caller: str, key: str, fingerprint: str) -> str:
    """Claim `(caller, key)` for `fingerprint` unless claimed before; the fingerprint it holds.

    One statement when the key is new or was claimed before this statement began; a second one
    when a concurrent claim of the same key made the INSERT wait for its transaction: only a
    statement started after that commit (READ COMMITTED) sees its row.
    """
    held: str | None = await conn.fetchval(_CLAIM, caller, key, fingerprint)
    if held is None:
        held = await conn.fetchval(_HELD, caller, key)
    if held is None:  # the claim expired in between (retention): the key is free again
        held = await conn.fetchval(_CLAIM, caller, key, fingerprint)
    assert held is not None, "a claim is held once its key is claimed"
    return held


_CLAIM = """
WITH claimed AS (
    INSERT INTO idempotency_claims (caller, key, fingerprint) VALUES ($1, $2, $3)
    ON CONFLICT (caller, key) DO NOTHING
    RETURNING fingerprint
)
SELECT fingerprint FROM claimed
UNION ALL
SELECT fingerprint FROM idempotency_claims WHERE caller = $1 AND key = $2
LIMIT 1
"""
_HELD = "SELECT fingerprint FROM idempotency_claims WHERE caller = $1 AND key = $2"
