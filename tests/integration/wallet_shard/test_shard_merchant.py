"""Purchases, refunds, limits and the integrity checks behind them, against PostgreSQL: what the
end-to-end tests cannot set up (time passing, a tampered row)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import orjson
from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.service_layer import limits, merchant, movements, wallets
from wallet_shard.service_layer.commands import (
    IdempotentRequest,
    MoveMoney,
    OpenWallet,
    PayOrder,
    RefundPurchase,
)
from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shard.service_layer.transfer_commands import handle_transfer_commands
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.messages import CancelDebit, TryDebit

from .conftest import Shard, users_of_shard

ORIGIN = MovementRequest(actor="ops", actor_role="admin", client_address="10.0.0.7")
DAY_ONE = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)


def _request(key: str) -> IdempotentRequest:
    return IdempotentRequest(caller="ops", key=key, fingerprint=key)


async def _funded_wallet(shard: Shard, amount: int) -> str:
    command = OpenWallet(user_id=users_of_shard(0)[0], currency="USD")
    wallet = await wallets.open_wallet(shard.uow, shard.context, command, owner_scope=None)
    deposit = MoveMoney(wallet_id=wallet.id, amount=amount)
    cash = movements.CashMovements(shard.uow, shard.context)
    await cash.deposit(deposit, owner_scope=None, request=_request("d"), origin=ORIGIN)
    return wallet.id


async def test_a_hold_cancelled_the_next_day_gives_back_only_to_its_own_day(shard: Shard) -> None:
    now = [DAY_ONE]
    shard.context = dataclasses.replace(
        shard.context, default_limits=SpendingLimits(daily=1000), clock=lambda: now[0]
    )
    wallet_id = await _funded_wallet(shard, 5000)
    transfer = new_transfer_id()
    fields = {"transfer_id": transfer, "wallet_id": wallet_id, "amount": 600, "currency": "USD"}
    await handle_transfer_commands(shard.uow, shard.context, [TryDebit(**fields)])
    now[0] = DAY_ONE + timedelta(hours=2)  # the next UTC day, and the next month
    withdrawal = MoveMoney(wallet_id=wallet_id, amount=900)
    cash = movements.CashMovements(shard.uow, shard.context)
    await cash.withdraw(withdrawal, owner_scope=None, request=_request("w"), origin=ORIGIN)
    await handle_transfer_commands(shard.uow, shard.context, [CancelDebit(**fields)])
    used = await limits.get_limits(shard.uow, shard.context, wallet_id, owner_scope=None)
    assert (used.used_today, used.used_this_month) == (900, 900)
    audit = await shard.pool.fetch("SELECT actor, client_address FROM movement_requests")
    assert {tuple(row) for row in audit} == {("ops", "10.0.0.7")}


async def test_integrity_compares_purchases_with_their_refunds(shard: Shard) -> None:
    wallet_id = await _funded_wallet(shard, 1000)
    paid = await merchant.purchase(
        shard.uow,
        shard.context,
        PayOrder(wallet_id, 800, "ord-1"),
        owner_scope=None,
        request=_request("p"),
        origin=ORIGIN,
    )
    purchase_id = orjson.loads(paid.body)["id"]
    await merchant.refund(
        shard.uow,
        shard.context,
        RefundPurchase(wallet_id, purchase_id, 300),
        request=_request("r"),
        origin=ORIGIN,
    )
    report = await shard_integrity(shard.uow, shard.context)
    assert (report.consistent, report.currencies["USD"].merchant) == (True, 500)

    await shard.pool.execute("UPDATE purchases SET refunded = 0")
    tampered = await shard_integrity(shard.uow, shard.context)
    assert not tampered.consistent
    assert any("refunded 0 on its row, refunds 300" in p for p in tampered.problems)
