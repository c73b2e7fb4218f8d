"""Purchases, refunds, reversals, spending limits, the balance at an instant and statements:
roles checked here, then the wallet's shard does the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from wallet_shared.contracts.schemas import CreatePurchase, CreateRefund, CreateReversal, SetLimits
from wallet_shared.platform.http_client import InternalStream

from gateway.adapters.backends import (
    BackendReply,
    Backends,
    ClientOrigin,
    expect_ok,
    path_segment,
)
from gateway.domain.principal import Principal
from gateway.domain.requests import check_time_range
from gateway.domain.roles import require_role
from gateway.domain.routing import ShardRouter
from gateway.service_layer.movements import post_movement


async def purchase(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    command: CreatePurchase,
    raw_idempotency_key: str | None,
    max_amount: int,
    origin: ClientOrigin,
) -> BackendReply:
    """The wallet pays an order (owner, admin)."""
    require_role(caller, "user", "admin", action="pay orders")
    return await post_movement(
        backends,
        router,
        caller,
        wallet_id=wallet_id,
        route="purchases",
        command=command,
        raw_idempotency_key=raw_idempotency_key,
        max_amount=max_amount,
        origin=origin,
    )


async def refund(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    command: CreateRefund,
    raw_idempotency_key: str | None,
    max_amount: int,
    origin: ClientOrigin,
) -> BackendReply:
    """Part or all of a purchase back to the wallet that paid it (admins)."""
    require_role(caller, "admin", action="refund purchases")
    return await post_movement(
        backends,
        router,
        caller,
        wallet_id=wallet_id,
        route="refunds",
        command=command,
        raw_idempotency_key=raw_idempotency_key,
        max_amount=max_amount,
        origin=origin,
    )


async def reverse(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    transaction_id: str,
    command: CreateReversal,
    raw_idempotency_key: str | None,
    max_amount: int,
    origin: ClientOrigin,
) -> BackendReply:
    """Undo one transaction of the wallet with a new, linked one (admins)."""
    require_role(caller, "admin", action="reverse transactions")
    return await post_movement(
        backends,
        router,
        caller,
        wallet_id=wallet_id,
        route=f"transactions/{path_segment(transaction_id)}/reversal",
        command=command,
        raw_idempotency_key=raw_idempotency_key,
        max_amount=max_amount,
        origin=origin,
    )


async def get_limits(
    backends: Backends, router: ShardRouter, caller: Principal, wallet_id: str
) -> BackendReply:
    """The wallet's spending limits and what today and this month used of them."""
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    path = f"/internal/wallets/{wallet_id}/limits"
    return expect_ok(await backends.shard(shard, "GET", path, caller=caller))


async def set_limits(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    wallet_id: str,
    command: SetLimits,
    origin: ClientOrigin | None = None,
) -> BackendReply:
    """Replace the wallet's own spending limits (admins; `origin` is audited)."""
    require_role(caller, "admin", action="set spending limits")
    shard = router.shard_of_wallet(wallet_id)
    path = f"/internal/wallets/{wallet_id}/limits"
    body = command.model_dump(mode="json")
    reply = await backends.shard(shard, "PUT", path, caller=caller, json=body, origin=origin)
    return expect_ok(reply)


async def balance_at(
    backends: Backends, router: ShardRouter, caller: Principal, wallet_id: str, at: datetime
) -> BackendReply:
    """The wallet's balance as of `at`."""
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    path = f"/internal/wallets/{wallet_id}/balance"
    params: dict[str, str | int] = {"at": at.isoformat()}
    return expect_ok(await backends.shard(shard, "GET", path, caller=caller, params=params))


@asynccontextmanager
async def statement(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    wallet_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    accept: str | None,
) -> AsyncIterator[InternalStream]:
    """The shard's statement stream, open for the block to relay."""
    check_time_range(since, until)
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    params: dict[str, str | int] = {}
    if since is not None:
        params["since"] = since.isoformat()
    if until is not None:
        params["until"] = until.isoformat()
    async with backends.shard_stream(
        shard,
        f"/internal/wallets/{wallet_id}/statement",
        caller=caller,
        params=params,
        accept=accept,
    ) as answer:
        yield answer
