"""Wallet operations: route to the owner's shard and forward the caller; lists of every shard
are merged here."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from wallet_shared.contracts.schemas import CreateWallet, Deposit, TransactionType

from gateway.adapters.backends import (
    BackendReply,
    Backends,
    ClientOrigin,
    built_body,
    expect_json,
    expect_ok,
)
from gateway.adapters.pages import listed_items, page_reply
from gateway.domain.listing import merge_newest_first
from gateway.domain.principal import Principal
from gateway.domain.requests import check_time_range
from gateway.domain.roles import owner_of_new_wallet, owner_to_list, require_role
from gateway.domain.routing import ShardRouter
from gateway.service_layer.movements import post_movement

Movement = Literal["deposits", "withdrawals"]
StatusChange = Literal["freeze", "unfreeze", "close"]


async def create_wallet(
    backends: Backends, router: ShardRouter, caller: Principal, command: CreateWallet
) -> BackendReply:
    """A new wallet on its owner's shard (the caller, or the user an admin names)."""
    owner = owner_of_new_wallet(caller, command.user_id)
    body = CreateWallet(user_id=owner, currency=command.currency, label=command.label)
    reply = await backends.shard(
        router.shard_of_user(owner),
        "POST",
        "/internal/wallets",
        caller=caller,
        json=built_body(body),
    )
    return expect_ok(reply)


async def list_wallets(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    user_id: str | None,
    limit: int,
    cursor: str | None,
) -> BackendReply:
    """One user's wallets from their shard, or (admin, auditor) everyone's, merged."""
    owner = owner_to_list(caller, user_id)
    params: dict[str, str | int] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    if owner is not None:
        params["user_id"] = owner
        shard = router.shard_of_user(owner)
        return expect_ok(
            await backends.shard(shard, "GET", "/internal/wallets", caller=caller, params=params)
        )
    # One extra item per shard tells whether anything follows the merged page.
    params["limit"] = limit + 1
    replies = await asyncio.gather(
        *(
            backends.shard(shard, "GET", "/internal/wallets", caller=caller, params=params)
            for shard in range(router.shard_count)
        )
    )
    pages = [listed_items(expect_json(reply)) for reply in replies]
    return page_reply(merge_newest_first(pages, limit=limit))


async def get_wallet(
    backends: Backends, router: ShardRouter, caller: Principal, wallet_id: str
) -> BackendReply:
    """One wallet the caller may see."""
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    return expect_ok(
        await backends.shard(shard, "GET", f"/internal/wallets/{wallet_id}", caller=caller)
    )


async def move_money(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    movement: Movement,
    command: Deposit,
    raw_idempotency_key: str | None,
    max_amount: int,
    origin: ClientOrigin | None = None,
) -> BackendReply:
    """A deposit or withdrawal, by the owner or an admin, exactly once per Idempotency-Key."""
    require_role(caller, "user", "admin", action="move money")
    return await post_movement(
        backends,
        router,
        caller,
        wallet_id=wallet_id,
        route=movement,
        command=command,
        raw_idempotency_key=raw_idempotency_key,
        max_amount=max_amount,
        origin=origin,
    )


async def change_status(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    wallet_id: str,
    change: StatusChange,
    origin: ClientOrigin | None = None,
) -> BackendReply:
    """Freeze, unfreeze or close a wallet (admins only; `origin` is audited)."""
    require_role(caller, "admin", action=f"{change} wallets")
    shard = router.shard_of_wallet(wallet_id)
    path = f"/internal/wallets/{wallet_id}/{change}"
    return expect_ok(await backends.shard(shard, "POST", path, caller=caller, origin=origin))


async def list_transactions(
    backends: Backends,
    router: ShardRouter,
    caller: Principal,
    *,
    wallet_id: str,
    limit: int,
    cursor: str | None,
    type_: TransactionType | None,
    since: datetime | None,
    until: datetime | None,
) -> BackendReply:
    """A wallet's journal, newest first, filtered by type and time."""
    check_time_range(since, until)
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    params: dict[str, str | int] = {"limit": limit}
    optional = {
        "cursor": cursor,
        "type": type_,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    path = f"/internal/wallets/{wallet_id}/transactions"
    return expect_ok(await backends.shard(shard, "GET", path, caller=caller, params=params))
