"""Handlers for a wallet's spending limits: read them with what is used, set them (admins)."""

from __future__ import annotations

from wallet_shared.contracts.schemas import SpendingLimits as LimitsView

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.audit import audit_action
from wallet_shard.service_layer.commands import ChangeLimits
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.service_layer.wallets import find_visible


async def get_limits(
    uow: UnitOfWork, shard: ShardContext, wallet_id: str, *, owner_scope: str | None
) -> LimitsView:
    """The limits in force and what the current UTC day and month used of them."""
    async with uow.reading() as repos:
        wallet = await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)
    return limits_view(wallet, shard)


async def set_limits(
    uow: UnitOfWork,
    shard: ShardContext,
    command: ChangeLimits,
    *,
    origin: MovementRequest | None = None,
) -> LimitsView:
    """Replace the wallet's own limits (None: back to the configured default); the admin's
    request (`origin`) is audited with the change."""
    async with uow.transaction() as repos:
        wallet = await find_visible(repos, command.wallet_id, owner_scope=None, lock=True)
        wallet.limits = SpendingLimits(daily=command.daily, monthly=command.monthly)
        wallet.updated_at = shard.clock()
        await repos.wallets.save_limits(wallet)
        if origin is not None:
            await audit_action(repos.conn, shard, origin, "wallet.limits", wallet.id)
    return limits_view(wallet, shard)


def limits_view(wallet: Wallet, shard: ShardContext) -> LimitsView:
    now = shard.clock()
    in_force = wallet.limits.over(shard.default_limits)
    return LimitsView(
        wallet_id=wallet.id,
        daily=in_force.daily,
        monthly=in_force.monthly,
        used_today=wallet.spending.used_today(now),
        used_this_month=wallet.spending.used_this_month(now),
        daily_is_default=wallet.limits.daily is None,
        monthly_is_default=wallet.limits.monthly is None,
    )
