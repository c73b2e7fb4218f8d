"""Money movements asked for over HTTP (deposits, withdrawals, purchases, refunds, reversals):
local, synchronous, one DB transaction each.

The wallet row is locked (`SELECT ... FOR UPDATE`), the domain books the movement, and the
journal transaction, its entries, the balance and spending snapshots, the `transaction.posted`
event, who asked for it (audit) and the idempotency record all commit together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from wallet_shared.contracts.ids import new_transaction_id
from wallet_shared.platform.idempotency import StoredResponse, run_idempotent
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.metrics import LEDGER_POSTINGS

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import (
    PostingContext,
    book_deposit,
    book_withdrawal,
    check_operation_amount,
)
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.audit import audit_posting
from wallet_shard.service_layer.commands import IdempotentRequest, MoveMoney
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import transaction_posted, transaction_view
from wallet_shard.service_layer.wallets import find_visible

Booking = Callable[[Wallet, int, PostingContext], JournalTransaction]
Movement = Callable[[ShardRepositories, Wallet, PostingContext], Awaitable[JournalTransaction]]
"""Books one movement on the locked wallet (and saves what it changed besides the wallet and
the journal transaction); raises a `WalletError` to refuse."""


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
        origin: MovementRequest,
    ) -> Awaitable[StoredResponse]: ...


async def deposit(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    *,
    owner_scope: str | None,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    """Money in from outside: 201 with the transaction, or the stored refusal."""
    return await _move(uow, shard, command, book_deposit, owner_scope, request, origin)


async def withdraw(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    *,
    owner_scope: str | None,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    """Money out: 201 with the transaction; 422 `insufficient_funds` beyond the available,
    `limit_exceeded` beyond the spending limits."""
    return await _move(uow, shard, command, book_withdrawal, owner_scope, request, origin)


async def _move(
    uow: UnitOfWork,
    shard: ShardContext,
    command: MoveMoney,
    book: Booking,
    owner_scope: str | None,
    request: IdempotentRequest,
    origin: MovementRequest,
) -> StoredResponse:
    check_operation_amount(command.amount, max_amount=shard.max_amount)

    async def movement(
        repos: ShardRepositories, wallet: Wallet, context: PostingContext
    ) -> JournalTransaction:
        return book(wallet, command.amount, context)

    return await run_movement(
        uow,
        shard,
        wallet_id=command.wallet_id,
        owner_scope=owner_scope,
        request=request,
        origin=origin,
        movement=movement,
        reference=command.reference,
        metadata=command.metadata,
    )


async def run_movement(
    uow: UnitOfWork,
    shard: ShardContext,
    *,
    wallet_id: str,
    owner_scope: str | None,
    request: IdempotentRequest,
    origin: MovementRequest,
    movement: Movement,
    reference: str | None = None,
    metadata: dict[str, Any] | None = None,
    related_id: str | None = None,
) -> StoredResponse:
    """Run `movement` at most once per Idempotency-Key on the locked wallet: 201 with the
    transaction, or the stored refusal."""
    posted: list[JournalTransaction] = []

    async def move_in(repos: ShardRepositories) -> StoredResponse:
        posted.clear()  # a work may run again after its group's transaction was rolled back

        async def operation() -> tuple[int, Any]:
            wallet = await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=True)
            context = PostingContext(
                transaction_id=new_transaction_id(wallet.bucket),
                at=shard.clock(),
                reference=reference,
                metadata=metadata,
                related_id=related_id,
                default_limits=shard.default_limits,
            )
            posting = await movement(repos, wallet, context)
            await _save(repos, shard, wallet, posting, origin)
            posted.append(posting)
            return 201, transaction_view(posting).model_dump(mode="json")

        return await run_idempotent(
            repos.conn,
            caller=request.caller,
            key=request.key,
            fingerprint=request.fingerprint,
            operation=operation,
        )

    stored = await uow.grouped(move_in, locks=[wallet_id])
    for posting in posted:  # counted once committed; a replay or a refusal posts nothing
        LEDGER_POSTINGS.labels(shard.label, posting.type).inc()
    return stored


async def _save(
    repos: ShardRepositories,
    shard: ShardContext,
    wallet: Wallet,
    posting: JournalTransaction,
    origin: MovementRequest,
) -> None:
    await repos.journal.add([posting])
    await repos.wallets.save_balances([wallet])
    await repos.movement_requests.add(posting.id, origin, at=posting.created_at)
    await audit_posting(repos.conn, shard, posting, origin)
    await repos.publish(
        [transaction_posted(posting, topics=shard.topics, trace_id=current_trace_id())]
    )
