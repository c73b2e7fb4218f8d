"""Handler for reversals: a new journal transaction, linked to the one it undoes, booked under
the wallet's row lock (which also serialises every reversal of the wallet's transactions)."""

from __future__ import annotations

from wallet_shared.contracts.errors import NotFound
from wallet_shared.contracts.ids import TRANSACTION_PREFIX, bucket_of_id
from wallet_shared.platform.idempotency import StoredResponse

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import PostingContext
from wallet_shard.domain.purchases import Purchase
from wallet_shard.domain.reversals import ReversalTarget, book_reversal
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.commands import IdempotentRequest, ReverseTransaction
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.movements import run_movement
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork


async def reverse(
    uow: UnitOfWork,
    shard: ShardContext,
    command: ReverseTransaction,
    *,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    """201 with the reversing transaction; 404 for a transaction not of this wallet; 409
    `already_reversed`; 422 `transfer_not_reversible`, `reversal_not_reversible`,
    `insufficient_funds` (undoing a credit the wallet has spent since), `wallet_not_active`
    (closed); 409 `purchase_refunded` for a purchase refunds gave money back for."""

    async def undo(
        repos: ShardRepositories, wallet: Wallet, context: PostingContext
    ) -> JournalTransaction:
        original = await _target_of(repos, wallet, command.transaction_id)
        purchase = await _purchase_behind(repos, original)
        posting = book_reversal(wallet, original, context, reason=command.reason, purchase=purchase)
        if purchase is not None:
            await repos.purchases.save(purchase)
        return posting

    return await run_movement(
        uow,
        shard,
        wallet_id=command.wallet_id,
        owner_scope=None,
        request=request,
        origin=origin.because(command.reason),
        movement=undo,
    )


async def _target_of(
    repos: ShardRepositories, wallet: Wallet, transaction_id: str
) -> ReversalTarget:
    original = None
    if bucket_of_id(transaction_id, prefix=TRANSACTION_PREFIX) is not None:
        original = await repos.journal.reversal_target(transaction_id)
    if original is None or original.wallet_id != wallet.id:
        raise NotFound("No such transaction of this wallet.")
    return original


async def _purchase_behind(repos: ShardRepositories, original: ReversalTarget) -> Purchase | None:
    """The purchase a reversal of `original` changes: itself, or the one a refund refunded."""
    if original.type == "purchase":
        return await repos.purchases.get(original.id)
    if original.type == "refund" and original.related_id is not None:
        return await repos.purchases.get(original.related_id)
    return None
