"""Money movements asked for over HTTP (deposits, withdrawals, purchases, refunds, reversals):
local and synchronous.

Deposits and withdrawals are booked set-based (`CashMovements`): the ones that arrive together
lock their wallets in one statement, are booked in memory one after the other, and their journal
transactions, balances, `movement_requests` rows, `transaction.posted` events and idempotency
records are written with one statement per table, and commit together. Purchases, refunds and
reversals read and write more per request (the purchase and its refunds, the transaction
undone): `run_movement` books each with statements of its own, inside a transaction shared with
the requests that arrive meanwhile (group commit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.ids import WALLET_PREFIX, bucket_of_id, new_transaction_id
from wallet_shared.platform.idempotency import StoredResponse, run_idempotent, run_idempotent_batch
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.metrics import LEDGER_POSTINGS
from wallet_shared.platform.writes import Write, write_together

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import (
    PostingContext,
    book_deposit,
    book_withdrawal,
    check_operation_amount,
)
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer.audit import audit_postings
from wallet_shard.service_layer.batch_desk import BatchDesk
from wallet_shard.service_layer.commands import IdempotentRequest, MoveMoney
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import transaction_posted, transaction_view
from wallet_shard.service_layer.wallets import find_visible, visible

Booking = Callable[[Wallet, int, PostingContext], JournalTransaction]
Movement = Callable[[ShardRepositories, Wallet, PostingContext], Awaitable[JournalTransaction]]
"""Books one movement on the locked wallet (and saves what it changed besides the wallet and
the journal transaction); raises a `WalletError` to refuse."""


@dataclass(frozen=True, slots=True)
class _Asked:
    """One deposit or withdrawal to book: what, by whom, under which key, and the trace it
    belongs to (the batch runs in another task than the request)."""

    command: MoveMoney
    book: Booking
    owner_scope: str | None
    idempotency: IdempotentRequest
    origin: MovementRequest
    trace_id: str


class CashMovement(Protocol):
    """`CashMovements.deposit` or `CashMovements.withdraw`: they take the same arguments."""

    def __call__(
        self,
        command: MoveMoney,
        *,
        owner_scope: str | None,
        request: IdempotentRequest,
        origin: MovementRequest,
    ) -> Awaitable[StoredResponse]: ...


class _Booked(NamedTuple):
    """A request's stored answer, and what it posted (None for a replay or a refusal)."""

    answer: StoredResponse
    posting: JournalTransaction | None


class CashMovements(BatchDesk[_Asked, _Booked]):
    """Books deposits and withdrawals, once per Idempotency-Key; the ones that arrive together
    are booked together, in one transaction with a fixed number of statements
    (`wallet_shared.platform.batch_commit`), as the shard's local transfers are."""

    async def deposit(
        self,
        command: MoveMoney,
        *,
        owner_scope: str | None,
        request: IdempotentRequest,
        origin: MovementRequest,
    ) -> StoredResponse:
        """Money in from outside: 201 with the transaction, or the stored refusal."""
        return await self._move(command, book_deposit, owner_scope, request, origin)

    async def withdraw(
        self,
        command: MoveMoney,
        *,
        owner_scope: str | None,
        request: IdempotentRequest,
        origin: MovementRequest,
    ) -> StoredResponse:
        """Money out: 201 with the transaction; 422 `insufficient_funds` beyond the available,
        `limit_exceeded` beyond the spending limits."""
        return await self._move(command, book_withdrawal, owner_scope, request, origin)

    async def _move(
        self,
        command: MoveMoney,
        book: Booking,
        owner_scope: str | None,
        request: IdempotentRequest,
        origin: MovementRequest,
    ) -> StoredResponse:
        check_operation_amount(command.amount, max_amount=self._shard.max_amount)
        asked = _Asked(command, book, owner_scope, request, origin, trace_id=current_trace_id())
        stored, posting = await self._batches.submit(asked)
        if posting is not None:  # counted once committed; a replay or a refusal posts nothing
            LEDGER_POSTINGS.labels(self._shard.label, posting.type).inc()
        return stored

    async def _book_together(
        self, repos: ShardRepositories, batch: list[_Asked]
    ) -> list[_Booked | WalletError]:
        shard = self._shard
        # Every wallet of the batch locked at once, in id order; the movements are then booked
        # one after the other on those rows, so each sees what the ones before it moved.
        wallet_ids = {
            asked.command.wallet_id
            for asked in batch
            if bucket_of_id(asked.command.wallet_id, prefix=WALLET_PREFIX) is not None
        }
        wallets = {w.id: w for w in await repos.wallets.lock_many(sorted(wallet_ids))}
        at = shard.clock()
        posted: dict[int, JournalTransaction] = {}

        async def book_one(position: int) -> tuple[int, Any]:
            asked = batch[position]
            wallet = visible(wallets.get(asked.command.wallet_id), asked.owner_scope)
            context = PostingContext(
                transaction_id=new_transaction_id(wallet.bucket),
                at=at,
                reference=asked.command.reference,
                metadata=asked.command.metadata,
                default_limits=shard.default_limits,
            )
            posting = posted[position] = asked.book(wallet, asked.command.amount, context)
            return 201, transaction_view(posting).model_dump(mode="json")

        def writes() -> list[Write]:
            postings = list(posted.values())
            moved = {posting.wallet_id: wallets[posting.wallet_id] for posting in postings}
            origins = [(p.id, batch[position].origin) for position, p in posted.items()]
            events = [
                transaction_posted(p, topics=shard.topics, trace_id=batch[position].trace_id)
                for position, p in posted.items()
            ]
            return [
                *repos.journal.adding(postings),
                *repos.wallets.saving_balances(list(moved.values())),
                *repos.movement_requests.adding(origins, at=at),
                *repos.publishing(events),
            ]

        # What was booked goes in the statement that stores the answers: one round trip.
        answers = await run_idempotent_batch(
            repos.conn, [asked.idempotency for asked in batch], book_one, writes=writes
        )
        await audit_postings(
            repos.conn,
            shard,
            [(posting, batch[position].origin) for position, posting in posted.items()],
        )
        return [
            answer if isinstance(answer, WalletError) else _Booked(answer, posted.get(position))
            for position, answer in enumerate(answers)
        ]


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
    await audit_postings(repos.conn, shard, [(posting, origin)])
    event = transaction_posted(posting, topics=shard.topics, trace_id=current_trace_id())
    await write_together(
        repos.conn,
        [
            *repos.journal.adding([posting]),
            *repos.wallets.saving_balances([wallet]),
            *repos.movement_requests.adding([(posting.id, origin)], at=posting.created_at),
            *repos.publishing([event]),
        ],
    )
