"""System-wide Idempotency-Key claims: a key serves one request of its caller, whichever
database books that request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from wallet_shared.contracts.errors import IdempotencyKeyReused
from wallet_shared.platform.unit_of_work import OutboxTransaction

from transfer_coordinator.adapters import claims
from transfer_coordinator.service_layer.context import CoordinatorContext


@dataclass(frozen=True, slots=True)
class Claim:
    """A caller's key, claimed for the fingerprint of one public request."""

    caller: str
    key: str
    fingerprint: str


async def claim_key_in(
    conn: asyncpg.Connection, *, caller: str, key: str, fingerprint: str
) -> None:
    """Claim the key inside the caller's transaction; `IdempotencyKeyReused` when it was
    claimed for another request (nothing is written then)."""
    held = await claims.claim(conn, caller=caller, key=key, fingerprint=fingerprint)
    if held != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")


async def claim_keys(ctx: CoordinatorContext, requested: Sequence[Claim]) -> list[bool]:
    """Claim each key for a request booked elsewhere (a shard's deposit, withdrawal, purchase or
    local transfer); per claim, whether it holds (False: the key served another request).

    The claims join one transaction, shared with concurrent claims and starts (group commit).
    `TransientError` when the database failed: then nothing is known of any of them.
    """
    outcomes = await asyncio.gather(
        *(_claim(ctx, claim) for claim in requested), return_exceptions=True
    )
    held: list[bool] = []
    for outcome in outcomes:
        if isinstance(outcome, IdempotencyKeyReused):
            held.append(False)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            held.append(True)
    return held


async def _claim(ctx: CoordinatorContext, claim: Claim) -> None:
    async def claim_in(tx: OutboxTransaction) -> None:
        await claim_key_in(
            tx.conn, caller=claim.caller, key=claim.key, fingerprint=claim.fingerprint
        )

    await ctx.uow.grouped(claim_in)
