"""Handlers for deposits and withdrawals: local, synchronous, one DB transaction each.

The wallet row is locked (`SELECT ... FOR UPDATE`), the domain books the movement, and the
journal transaction, its entries, the balance snapshot, the `transaction.posted` event and the
idempotency record all commit together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from wallet_shared.idempotency import StoredResponse, run_idempotent
from wallet_shared.ids import new_transaction_id
from wallet_shared.metrics import LEDGER_POSTINGS

from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import (
    PostingContext,
    book_deposit,
    book_withdrawal,
    check_operation_amount,
)
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.commands import IdempotentRequest, MoveMoney
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.service_layer.views import current_trace_id, transaction_posted, transaction_view
from wallet_shard.service_layer.wallets import find_visible

Booking = Callable[[Wallet, int, PostingContext], JournalTransaction]


class MovementHandler(Protocol):
    """`deposit` or `withdraw`: the two handlers take the same arguments."""

    def __call__(
        self,
        uow: UnitOfWork,
        shard: ShardContext,
        command: MoveMoney,
        *,
        owner_scope: str | None,
        request: IdempotentRequest,
    ) -> Awaitable[StoredResponse]: ...


async def deposit(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    *,
    owner_scope: str | None,
    request: IdempotentRequest,
) -> StoredResponse:
    """Money in from outside: 201 with the transaction, or the stored refusal."""
    return await _move(uow, shard, command, book_deposit, owner_scope, request)


async def withdraw(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    *,
    owner_scope: str | None,
    request: IdempotentRequest,
) -> StoredResponse:
    """Money out: 201 with the transaction; 422 `insufficient_funds` beyond the available."""
    return await _move(uow, shard, command, book_withdrawal, owner_scope, request)


async def _move(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    book: Booking,
    owner_scope: str | None,
    request: IdempotentRequest,
) -> StoredResponse:
    check_operation_amount(command.amount, max_amount=shard.max_amount)
    posted: list[JournalTransaction] = []
    async with uow.transaction() as repos:

        async def operation() -> tuple[int, Any]:
            wallet = await find_visible(
                repos, command.wallet_id, owner_scope=owner_scope, lock=True
            )
            context = PostingContext(
                transaction_id=new_transaction_id(wallet.bucket),
                at=shard.clock(),
                reference=command.reference,
                metadata=command.metadata,
            )
            posting = book(wallet, command.amount, context)
            await repos.journal.add([posting])
            await repos.wallets.save_balances([wallet])
            await repos.publish(
                [transaction_posted(posting, topics=shard.topics, trace_id=current_trace_id())]
            )
            posted.append(posting)
            return 201, transaction_view(posting).model_dump(mode="json")

        stored = await run_idempotent(
            repos.conn,
            caller=request.caller,
            key=request.key,
            fingerprint=request.fingerprint,
            operation=operation,
        )
    for posting in posted:  # counted once committed; a replay or a refusal posts nothing
        LEDGER_POSTINGS.labels(shard.label, posting.type).inc()
    return stored
