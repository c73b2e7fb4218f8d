"""Money movements booked on one shard (deposits, withdrawals, purchases, refunds, reversals):
the key is claimed system-wide, then the owner's shard books the movement exactly once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from wallet_shared.contracts.rules import checked_key

from gateway.adapters.backends import BackendReply, Backends, ClientOrigin, expect_ok
from gateway.domain.principal import Principal
from gateway.domain.requests import check_amount_limit
from gateway.domain.routing import ShardRouter
from gateway.service_layer.idempotency import claim_key


async def post_movement(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    route: str,
    command: BaseModel,
    raw_idempotency_key: str | None,
    max_amount: int,
    origin: ClientOrigin | None = None,
) -> BackendReply:
    """POST `command` to `/internal/wallets/{wallet_id}/{route}` on the wallet's shard, once per
    Idempotency-Key. Roles are the caller's to check first."""
    key = checked_key(raw_idempotency_key)
    amount = getattr(command, "amount", None)
    if isinstance(amount, int):
        check_amount_limit(amount, max_amount=max_amount)
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    await claim_key(
        backends, caller, key=key, path=f"/v1/wallets/{wallet_id}/{route}", command=command
    )
    body: dict[str, Any] = command.model_dump(mode="json")
    reply = await backends.shard(
        shard,
        "POST",
        f"/internal/wallets/{wallet_id}/{route}",
        caller=caller,
        json=body,
        idempotency_key=key,
        origin=origin,
    )
    return expect_ok(reply)
