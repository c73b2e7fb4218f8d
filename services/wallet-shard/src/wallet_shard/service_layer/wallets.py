"""Handlers for wallets: open, read, list, and status changes."""

from __future__ import annotations

from wallet_shared.contracts.errors import NotFound, ValidationFailed
from wallet_shared.contracts.ids import WALLET_PREFIX, bucket_of_id, bucket_of_user, new_wallet_id
from wallet_shared.contracts.messages import EventType, Leg
from wallet_shared.contracts.pagination import (
    cut_page,
    decode_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.contracts.schemas import WalletPage
from wallet_shared.platform.logging import current_trace_id

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.audit import audit_action
from wallet_shard.service_layer.commands import OpenWallet, StatusChange
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import wallet_event, wallet_view


async def open_wallet(
    uow: UnitOfWork, shard: ShardContext, command: OpenWallet, *, owner_scope: str | None
) -> Wallet:
    """A new active wallet; its owner is registered on first use."""
    if owner_scope is not None and command.user_id != owner_scope:
        raise NotFound("No such user.")
    if not shard.owns_user(command.user_id):
        # The gateway routes by user; reaching here means a routing bug, so refuse to store a
        # wallet where no one would ever look for it.
        raise ValidationFailed(
            "The user does not belong to this shard.",
            errors=[{"field": "user_id", "message": "is not owned by this shard"}],
        )
    wallet = Wallet.open(
        wallet_id=new_wallet_id(bucket_of_user(command.user_id)),
        user_id=command.user_id,
        currency=command.currency,
        label=command.label,
        at=shard.clock(),
    )
    async with uow.transaction() as repos:
        await repos.wallets.add_user(command.user_id)
        await repos.wallets.add(wallet)
        await repos.publish(
            [
                wallet_event(
                    EventType.WALLET_CREATED,
                    wallet,
                    topics=shard.topics,
                    trace_id=current_trace_id(),
                )
            ]
        )
    return wallet


async def get_wallet(uow: UnitOfWork, wallet_id: str, *, owner_scope: str | None) -> Wallet:
    async with uow.reading() as repos:
        return await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)


async def change_status(
    uow: UnitOfWork,
    shard: ShardContext,
    wallet_id: str,
    change: StatusChange,
    *,
    owner_scope: str | None,
    origin: MovementRequest | None = None,
) -> Wallet:
    """Freeze, unfreeze or close; a change that is already in effect is a no-op. The admin's
    request (`origin`) is audited with it, no-op or not."""
    async with uow.transaction() as repos:
        wallet = await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=True)
        if change is StatusChange.FREEZE:
            changed = wallet.freeze()
        elif change is StatusChange.UNFREEZE:
            changed = wallet.unfreeze()
        else:
            pending = await repos.legs.any_active_on(Leg.CREDIT, wallet.id)
            changed = wallet.close(has_pending_credits=pending)
        if changed:
            wallet.updated_at = shard.clock()
            await repos.wallets.save_status(wallet)
            event = wallet_event(
                EventType.WALLET_STATUS_CHANGED,
                wallet,
                topics=shard.topics,
                trace_id=current_trace_id(),
            )
            await repos.publish([event])
        if origin is not None:
            await audit_action(repos.conn, shard, origin, f"wallet.{change.value}", wallet.id)
    return wallet


async def list_wallets(
    uow: UnitOfWork,
    *,
    user_id: str | None,
    owner_scope: str | None,
    limit: int,
    cursor: str | None,
) -> WalletPage:
    """Wallets newest first, of one user or (admin, auditor) of everyone on this shard."""
    older_than = parse_time_position(decode_cursor(cursor, arity=2)) if cursor else None
    if owner_scope is not None:
        if user_id is not None and user_id != owner_scope:
            return WalletPage(items=[], next_cursor=None)
        user_id = owner_scope
    async with uow.reading() as repos:
        wallets = await repos.wallets.newest_first(
            user_id=user_id, older_than=older_than, limit=limit + 1
        )
    page, next_cursor = cut_page(
        wallets, limit=limit, position=lambda last: time_position(last.created_at, last.id)
    )
    return WalletPage(items=[wallet_view(w) for w in page], next_cursor=next_cursor)


async def _find(repos: ShardRepositories, wallet_id: str, *, lock: bool) -> Wallet | None:
    if bucket_of_id(wallet_id, prefix=WALLET_PREFIX) is None:
        return None  # not a wallet id at all: no need to ask the database
    if lock:
        return await repos.wallets.lock(wallet_id)
    return await repos.wallets.get(wallet_id)


def visible(wallet: Wallet | None, owner_scope: str | None) -> Wallet:
    """The wallet if the caller may see it; someone else's wallet is as absent as a missing one."""
    if wallet is None or (owner_scope is not None and wallet.user_id != owner_scope):
        raise NotFound("No such wallet.")
    return wallet


async def find_visible(
    repos: ShardRepositories, wallet_id: str, *, owner_scope: str | None, lock: bool
) -> Wallet:
    """The wallet the caller names, optionally locked for update; NotFound otherwise."""
    return visible(await _find(repos, wallet_id, lock=lock), owner_scope)
