"""Transfers between two wallets of this shard: local DB transactions, no saga.

The transfers that arrive together are booked in one transaction, set-based: every wallet they
name is locked in id order in one statement, each transfer's two legs are tried and then
confirmed or cancelled in memory (`domain.local_transfers`), one after the other on one book, and
the legs, journal transactions, balances, the transfers' records, their events
(`transaction.posted` of each side, `transfer.completed` or `transfer.cancelled`) and the
idempotency records are written with one statement per table, and commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from wallet_shared.contracts.errors import NotFound, WalletError
from wallet_shared.contracts.ids import WALLET_PREFIX, bucket_of_id, new_local_transfer_id
from wallet_shared.contracts.messages import EventType, OutgoingMessage, encode_public_event
from wallet_shared.contracts.pagination import (
    Page,
    cut_page,
    decode_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.contracts.rules import check_distinct_wallets
from wallet_shared.contracts.schemas import Transfer
from wallet_shared.platform.idempotency import StoredResponse, run_idempotent_batch
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.metrics import TRANSFER_DURATION, TRANSFERS
from wallet_shared.platform.writes import Write

from wallet_shard.domain.leg_book import LegBook
from wallet_shard.domain.local_transfers import (
    LocalBooking,
    LocalTransfer,
    LocalTransferRequest,
    book_local_transfer,
)
from wallet_shard.service_layer.batch_desk import BatchDesk
from wallet_shard.service_layer.commands import IdempotentRequest
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.transfer_commands import count_postings, leg_book_writes
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import transaction_posted


@dataclass(frozen=True, slots=True)
class _Asked:
    """One request to book: what to move, whose wallets the caller may spend, its key, and the
    trace it belongs to (the batch runs in another task than the request)."""

    request: LocalTransferRequest
    owner_scope: str | None
    idempotency: IdempotentRequest
    trace_id: str


class _Booked(NamedTuple):
    """A request's stored answer, and what it booked (None for a replay or a refusal)."""

    answer: StoredResponse
    booking: LocalBooking | None


class LocalTransfers(BatchDesk[_Asked, _Booked]):
    """Books transfers between two wallets of this shard, once per Idempotency-Key; the ones that
    arrive together are booked together, in one transaction with a fixed number of statements
    (`wallet_shared.platform.batch_commit`)."""

    async def start(
        self,
        request: LocalTransferRequest,
        *,
        owner_scope: str | None,
        idempotency: IdempotentRequest,
    ) -> StoredResponse:
        """The final transfer (a local transfer is never pending): 202 as first stored, 200 on
        a repeat, like a saga's transfer that has become final; or the refusal."""
        stored, booking = await self._batches.submit(
            _Asked(request, owner_scope, idempotency, trace_id=current_trace_id())
        )
        if booking is not None:  # counted once committed; a replay or a refusal books nothing
            _count(self._shard, booking)
        if stored.replayed and stored.status_code == 202:
            return StoredResponse(200, stored.body, replayed=True)
        return stored

    async def _book_together(
        self, repos: ShardRepositories, batch: list[_Asked]
    ) -> list[_Booked | WalletError]:
        shard = self._shard
        # Every wallet of the batch locked at once, in id order; the transfers are then booked
        # one after the other on one book, so each sees what those before it moved.
        wallet_ids = {
            wallet_id
            for asked in batch
            for wallet_id in (asked.request.source_wallet_id, asked.request.destination_wallet_id)
        }
        wallets = await repos.wallets.lock_many(sorted(wallet_ids))
        book = LegBook(
            wallets=wallets, legs=[], at=shard.clock(), default_limits=shard.default_limits
        )
        booked: dict[int, LocalBooking] = {}

        async def book_one(position: int) -> tuple[int, Any]:
            booking = booked[position] = _book(book, batch[position])
            return 202, transfer_view(booking.transfer).model_dump(mode="json")

        def writes() -> list[Write]:
            bookings = list(booked.values())
            events = [event for booking in bookings for event in _events(shard, booking)]
            return [
                *leg_book_writes(repos, book),
                *repos.local_transfers.adding([booking.transfer for booking in bookings]),
                *repos.publishing(events),
            ]

        # What was booked goes in the statement that stores the answers: one round trip.
        answers = await run_idempotent_batch(
            repos.conn, [asked.idempotency for asked in batch], book_one, writes=writes
        )
        return [
            answer if isinstance(answer, WalletError) else _Booked(answer, booked.get(position))
            for position, answer in enumerate(answers)
        ]


def _book(book: LegBook, asked: _Asked) -> LocalBooking:
    """Book one transfer on `book` (which holds its wallets, locked); its refusals are raised
    before anything changed."""
    request = asked.request
    check_distinct_wallets(request.source_wallet_id, request.destination_wallet_id)
    bucket = bucket_of_id(request.source_wallet_id, prefix=WALLET_PREFIX)
    source = book.wallet(request.source_wallet_id)
    if (
        bucket is None
        or source is None
        or (asked.owner_scope is not None and source.user_id != asked.owner_scope)
    ):
        raise NotFound("No such source wallet.")
    return book_local_transfer(
        book, new_local_transfer_id(bucket), request, at=book.at, trace_id=asked.trace_id
    )


def _events(shard: ShardContext, booking: LocalBooking) -> list[OutgoingMessage]:
    """Each side's `transaction.posted`, then the transfer's final event (as a saga sends)."""
    trace_id = booking.trace_id
    events = [
        transaction_posted(outcome.posting, topics=shard.topics, trace_id=trace_id)
        for outcome in booking.outcomes
        if outcome.posting is not None
    ]
    transfer = booking.transfer
    final = (
        EventType.TRANSFER_COMPLETED
        if transfer.status == "completed"
        else EventType.TRANSFER_CANCELLED
    )
    events.append(
        encode_public_event(
            final,
            transfer_view(transfer).model_dump(mode="json"),
            topic=shard.topics.events,
            wallet_id=transfer.source_wallet_id,
            trace_id=trace_id,
            occurred_at=transfer.updated_at,
        )
    )
    return events


def _count(shard: ShardContext, booking: LocalBooking) -> None:
    transfer = booking.transfer
    TRANSFERS.labels(transfer.status, transfer.failure_code or "none").inc()
    TRANSFER_DURATION.observe(0.0)
    count_postings(shard, [o.posting for o in booking.outcomes if o.posting is not None])


def transfer_view(transfer: LocalTransfer) -> Transfer:
    """The public Transfer object of a local transfer (API.md)."""
    return Transfer(
        id=transfer.id,
        source_wallet_id=transfer.source_wallet_id,
        destination_wallet_id=transfer.destination_wallet_id,
        amount=transfer.amount,
        currency=transfer.currency,
        description=transfer.description,
        status=transfer.status,
        failure_code=transfer.failure_code,
        created_at=transfer.created_at,
        updated_at=transfer.updated_at,
    )


async def get_local_transfer(uow: UnitOfWork, transfer_id: str) -> Transfer:
    """One local transfer; `NotFound` when the id names none (whatever its form)."""
    async with uow.reading() as repos:
        transfer = await repos.local_transfers.get(transfer_id)
    if transfer is None:
        raise NotFound("No such transfer.")
    return transfer_view(transfer)


async def list_local_transfers(
    uow: UnitOfWork, *, wallet_id: str, limit: int, cursor: str | None
) -> Page[Transfer]:
    """A wallet's local transfers (either side), newest first; the cursor is the position
    `(created_at, id)` of the last item, the coordinator's form, so the gateway can merge."""
    after = parse_time_position(decode_cursor(cursor, arity=2)) if cursor is not None else None
    async with uow.reading() as repos:
        found = await repos.local_transfers.list_for_wallet(wallet_id, limit=limit + 1, after=after)
    page, next_cursor = cut_page(
        found, limit=limit, position=lambda last: time_position(last.created_at, last.id)
    )
    return Page[Transfer](items=[transfer_view(t) for t in page], next_cursor=next_cursor)
