"""Handlers for purchases and refunds: money between a wallet and the merchant-settlement
account of its currency, one DB transaction each (`movements.run_movement`)."""

from __future__ import annotations

from wallet_shared.contracts.errors import DuplicateOrder, NotFound
from wallet_shared.contracts.ids import TRANSACTION_PREFIX, bucket_of_id
from wallet_shared.platform.idempotency import StoredResponse

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import (
    PostingContext,
    book_purchase,
    book_refund,
    check_operation_amount,
)
from wallet_shard.domain.purchases import Purchase
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.commands import IdempotentRequest, PayOrder, RefundPurchase
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.movements import run_movement
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork


async def purchase(
    uow: UnitOfWork,
    shard: ShardContext,
    command: PayOrder,
    *,
    owner_scope: str | None,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    """201 with the purchase; 409 `duplicate_order` for an order the wallet paid already;
    422 `insufficient_funds`, `limit_exceeded`, `wallet_not_active`."""
    check_operation_amount(command.amount, max_amount=shard.max_amount)

    async def pay(
        repos: ShardRepositories, wallet: Wallet, context: PostingContext
    ) -> JournalTransaction:
        # The wallet's row lock serialises purchases of one wallet: the check cannot race.
        if await repos.purchases.order_paid(wallet.id, command.order_id):
            raise DuplicateOrder(f"Order {command.order_id!r} was already paid from this wallet.")
        posting, paid = book_purchase(
            wallet, command.amount, context, order_id=command.order_id, merchant=command.merchant
        )
        await repos.purchases.add(paid)
        return posting

    return await run_movement(
        uow,
        shard,
        wallet_id=command.wallet_id,
        owner_scope=owner_scope,
        request=request,
        origin=origin,
        movement=pay,
        reference=command.order_id,
        metadata={"order_id": command.order_id, "merchant": command.merchant},
    )


async def refund(
    uow: UnitOfWork,
    shard: ShardContext,
    command: RefundPurchase,
    *,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    """201 with the refund; 404 for a purchase that is not this wallet's; 422
    `refund_exceeds_purchase` beyond what is left of it. A frozen wallet receives refunds (it
    is the owner's money coming back); a closed one refuses them (`wallet_not_active`)."""
    check_operation_amount(command.amount, max_amount=shard.max_amount)

    async def give_back(
        repos: ShardRepositories, wallet: Wallet, context: PostingContext
    ) -> JournalTransaction:
        paid = await _purchase_of(repos, wallet, command.purchase_id)
        posting = book_refund(wallet, paid, command.amount, context)
        await repos.purchases.save(paid)
        return posting

    return await run_movement(
        uow,
        shard,
        wallet_id=command.wallet_id,
        owner_scope=None,
        request=request,
        origin=origin,
        movement=give_back,
        reference=command.purchase_id,
        metadata={"purchase_id": command.purchase_id},
        related_id=command.purchase_id,
    )


async def _purchase_of(repos: ShardRepositories, wallet: Wallet, purchase_id: str) -> Purchase:
    """The wallet's purchase `purchase_id` (read under the wallet's lock), or `NotFound`."""
    paid = None
    if bucket_of_id(purchase_id, prefix=TRANSACTION_PREFIX) is not None:
        paid = await repos.purchases.get(purchase_id)
    if paid is None or paid.wallet_id != wallet.id:
        raise NotFound("No such purchase of this wallet.")
    return paid
