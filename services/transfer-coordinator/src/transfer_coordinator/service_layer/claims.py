"""System-wide Idempotency-Key claims: a key serves one request of its caller, whichever
database books that request."""

from __future__ import annotations

import asyncpg
from wallet_shared.errors import IdempotencyKeyReused

from transfer_coordinator.adapters import claims
from transfer_coordinator.service_layer.context import CoordinatorContext


async def claim_key_in(
    conn: asyncpg.Connection, *, caller: str, key: str, fingerprint: str
) -> None:
    """Claim the key inside the caller's transaction; `IdempotencyKeyReused` when it was
    claimed for another request (nothing is written then)."""
    held = await claims.claim(conn, caller=caller, key=key, fingerprint=fingerprint)
    if held != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")


async def claim_key(ctx: CoordinatorContext, *, caller: str, key: str, fingerprint: str) -> None:
    """Claim the key for a request booked elsewhere (a shard's deposit, withdrawal or local
    transfer), in a transaction shared with concurrent claims and starts (group commit)."""

    async def claim_in(conn: asyncpg.Connection) -> None:
        await claim_key_in(conn, caller=caller, key=key, fingerprint=fingerprint)

    await ctx.in_transaction(claim_in)
