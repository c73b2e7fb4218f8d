"""What an Idempotency-Key is bound to, system-wide."""

from __future__ import annotations

from pydantic import BaseModel
from wallet_shared.contracts.errors import IdempotencyKeyReused
from wallet_shared.platform.idempotency import request_fingerprint

from gateway.adapters.backends import Backends, KeyClaim
from gateway.domain.principal import Principal


def public_fingerprint(path: str, command: BaseModel) -> str:
    """The public route and the validated body: `100` and `"100"` are the same request, a
    deposit to another wallet is not. The coordinator claims each key for one fingerprint."""
    return request_fingerprint("POST", path, command.model_dump(mode="json"))


async def claim_key(
    backends: Backends, caller: Principal, *, key: str, path: str, command: BaseModel
) -> None:
    """Claim the caller's `key` for this public request in the coordinator, before a shard books
    it: keys are the caller's across the whole system (422 `idempotency_key_reused` when the key
    served another request, wherever it was booked)."""
    claim = KeyClaim(caller.user_id, key, public_fingerprint(path, command))
    if not await backends.claim_key(claim):
        raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
