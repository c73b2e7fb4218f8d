"""System-wide Idempotency-Key claims: a key serves one request of its caller, whichever
database books that request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transfer_coordinator.adapters import claims
from transfer_coordinator.service_layer.context import CoordinatorContext


@dataclass(frozen=True, slots=True)
class Claim:
    """A caller's key, claimed for the fingerprint of one public request."""

    caller: str
    key: str
    fingerprint: str


async def claim_keys(ctx: CoordinatorContext, requested: Sequence[Claim]) -> list[bool]:
    """Claim each key for a request booked elsewhere (a shard's deposit, withdrawal, purchase or
    local transfer); per claim, whether it holds (False: the key served another request).

    One statement for them all (the gateway sends the claims of concurrent requests together),
    a second for keys a concurrent claim held; each commits alone, without BEGIN and COMMIT,
    which would triple the round trips: a claim stands for itself, and one made by a statement
    whose answer was lost holds for the same request when it is asked again. `TransientError`
    when the database failed: then nothing is known of any of them.
    """
    if not requested:
        return []
    async with ctx.uow.outside_transaction() as conn:
        held = await claims.claim(conn, [(c.caller, c.key, c.fingerprint) for c in requested])
    return [
        fingerprint == claim.fingerprint for claim, fingerprint in zip(requested, held, strict=True)
    ]
