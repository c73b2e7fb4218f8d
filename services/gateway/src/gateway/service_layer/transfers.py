"""Transfers: checked and routed here; run as sagas by the coordinator between two shards, or
booked in one local transaction by the shard that holds both wallets."""

from __future__ import annotations

import asyncio

from wallet_shared.contracts.errors import NotFound
from wallet_shared.contracts.ids import is_transfer_id
from wallet_shared.contracts.internal import StartTransferRequest
from wallet_shared.contracts.rules import check_distinct_wallets, checked_key
from wallet_shared.contracts.schemas import CreateTransfer, Transfer, Wallet

from gateway.adapters.backends import (
    BackendReply,
    Backends,
    built_body,
    expect_json,
    expect_model,
    expect_ok,
)
from gateway.adapters.pages import listed_items, page_reply
from gateway.domain.known_wallets import KnownWallets, WalletFacts
from gateway.domain.listing import merge_newest_first
from gateway.domain.principal import Principal
from gateway.domain.requests import check_amount_limit, wait_preference
from gateway.domain.roles import require_role
from gateway.domain.routing import ShardRouter, wallet_not_found
from gateway.service_layer.idempotency import claim_key, public_fingerprint


def transfer_not_found() -> NotFound:
    return NotFound("No such transfer.")


async def create_transfer(
    backends: Backends,
    router: ShardRouter,
    known: KnownWallets,
    caller: Principal,
    command: CreateTransfer,
    *,
    raw_idempotency_key: str | None,
    prefer: str | None,
    max_amount: int,
) -> tuple[BackendReply, int | None]:
    """Start a transfer from a wallet the caller may spend (and wait for it when asked).

    Returns the coordinator's reply and the wait that was applied, if any.
    """
    require_role(caller, "user", "admin", action="create transfers")
    key = checked_key(raw_idempotency_key)
    wait_s = wait_preference(prefer)
    check_amount_limit(command.amount, max_amount=max_amount)
    source_id, destination_id = command.source_wallet_id, command.destination_wallet_id
    check_distinct_wallets(source_id, destination_id)
    router.shard_of_visible_wallet(source_id, caller)  # NotFound before anyone is asked
    if router.shards.shard_for_wallet(destination_id) is None:
        raise NotFound("No such destination wallet.")
    source = await _visible_wallet(backends, router, known, caller, source_id)
    body = built_body(
        StartTransferRequest(
            source_wallet_id=source_id,
            destination_wallet_id=destination_id,
            amount=command.amount,
            currency=source.currency,
            description=command.description,
            initiator=caller.user_id,
        )
    )
    params = {"wait": wait_s} if wait_s is not None else None
    shard = router.shards.shard_for_wallet(source_id)
    if shard is not None and shard == router.shards.shard_for_wallet(destination_id):
        # Both wallets on one shard: one local transaction there, no saga (final at once).
        await claim_key(backends, caller, key=key, path="/v1/transfers", command=command)
        reply = await backends.shard(
            shard,
            "POST",
            "/internal/transfers",
            caller=caller,
            json=body,
            idempotency_key=key,
            params=params,
        )
        return expect_ok(reply), wait_s
    reply = await backends.coordinator(
        "POST",
        "/internal/transfers",
        caller=caller,
        json=body,
        idempotency_key=key,
        fingerprint=public_fingerprint("/v1/transfers", command),
        params=params,
        wait_s=wait_s or 0,
    )
    return expect_ok(reply), wait_s


async def get_transfer(
    backends: Backends,
    router: ShardRouter,
    known: KnownWallets,
    caller: Principal,
    transfer_id: str,
) -> BackendReply:
    """A transfer, for an admin, an auditor, or the owner of either of its wallets."""
    if not is_transfer_id(transfer_id):
        raise transfer_not_found()
    path = f"/internal/transfers/{transfer_id}"
    shard = router.shards.shard_for_local_transfer(transfer_id)
    reply = expect_ok(
        await backends.coordinator("GET", path, caller=caller)
        if shard is None
        else await backends.shard(shard, "GET", path, caller=caller)
    )
    if caller.owner_scope is None:
        return reply
    transfer = expect_model(reply, Transfer)
    for side in (transfer.source_wallet_id, transfer.destination_wallet_id):
        if await _owns_wallet(backends, router, known, caller, side):
            return reply
    raise transfer_not_found()


async def list_transfers(
    backends: Backends,
    router: ShardRouter,
    known: KnownWallets,
    caller: Principal,
    *,
    wallet_id: str,
    limit: int,
    cursor: str | None,
) -> BackendReply:
    """The transfers of a wallet the caller may see, newest first: the sagas of the
    coordinator and the local transfers of the wallet's shard, merged."""
    await _visible_wallet(backends, router, known, caller, wallet_id)
    # One extra item from each tells whether anything follows the merged page.
    params: dict[str, str | int] = {"wallet_id": wallet_id, "limit": limit + 1}
    if cursor is not None:
        params["cursor"] = cursor
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    replies = await asyncio.gather(
        backends.coordinator("GET", "/internal/transfers", caller=caller, params=params),
        backends.shard(shard, "GET", "/internal/transfers", caller=caller, params=params),
    )
    pages = [listed_items(expect_json(expect_ok(reply))) for reply in replies]
    return page_reply(merge_newest_first(pages, limit=limit))


async def _owns_wallet(
    backends: Backends, router: ShardRouter, known: KnownWallets, caller: Principal, wallet_id: str
) -> bool:
    if caller.owner_scope is None:
        return False
    shard = router.shards.shard_for_wallet(wallet_id)
    if shard is None or not router.may_own(caller.owner_scope, wallet_id):
        return False
    return await _facts(backends, known, caller, shard, wallet_id) is not None


async def _visible_wallet(
    backends: Backends, router: ShardRouter, known: KnownWallets, caller: Principal, wallet_id: str
) -> WalletFacts:
    """The facts of a wallet the caller may see, or `NotFound`."""
    shard = router.shard_of_visible_wallet(wallet_id, caller)
    facts = await _facts(backends, known, caller, shard, wallet_id)
    if facts is None:
        raise wallet_not_found()
    return facts


async def _facts(
    backends: Backends, known: KnownWallets, caller: Principal, shard: int, wallet_id: str
) -> WalletFacts | None:
    """A wallet's owner and currency, from memory or from its shard (asked with the caller's
    owner scope); None when the caller may not see it."""
    facts = known.get(wallet_id)
    if facts is None:
        reply = await backends.shard(shard, "GET", f"/internal/wallets/{wallet_id}", caller=caller)
        if reply.status_code == 404:
            return None
        wallet = expect_model(
            reply, Wallet, detail="A shard answered a wallet request unexpectedly."
        )
        facts = WalletFacts(owner=wallet.user_id, currency=wallet.currency)
        known.remember(wallet_id, facts)
    if caller.owner_scope is not None and facts.owner != caller.owner_scope:
        return None
    return facts
