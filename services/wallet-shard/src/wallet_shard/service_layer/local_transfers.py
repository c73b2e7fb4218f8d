"""Transfers between two wallets of this shard: one local DB transaction each, no saga.

The wallets are locked in id order, both legs are tried and then confirmed or cancelled in
memory (`domain.local_transfers`), and the legs, journal transactions, balances, the transfer's
record, its events (`transaction.posted` of each side, `transfer.completed` or
`transfer.cancelled`) and the idempotency record all commit together.
"""

from __future__ import annotations

from typing import Any

from wallet_shared.contracts.errors import NotFound
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
from wallet_shared.platform.idempotency import StoredResponse, run_idempotent
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.metrics import TRANSFER_DURATION, TRANSFERS

from wallet_shard.domain.local_transfers import (
    LocalBooking,
    LocalTransfer,
    LocalTransferRequest,
    book_local_transfer,
    local_transfer_commands,
)
from wallet_shard.service_layer.commands import IdempotentRequest
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.transfer_commands import (
    count_postings,
    load_leg_book,
    save_leg_book,
)
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import transaction_posted


async def start_local_transfer(
    uow: UnitOfWork,
    shard: ShardContext,
    request: LocalTransferRequest,
    *,
    owner_scope: str | None,
    idempotency: IdempotentRequest,
) -> StoredResponse:
    """Book a transfer between two wallets of this shard, once per Idempotency-Key.

    The answer is the final transfer (a local transfer is never pending): 202 as first stored,
    200 on a repeat, like a saga's transfer that has become final.
    """
    booked: list[LocalBooking] = []

    async def start_in(repos: ShardRepositories) -> StoredResponse:
        booked.clear()  # a work may run again after its group's transaction was rolled back

        async def book() -> tuple[int, Any]:
            booking = await _book(repos, shard, request, owner_scope=owner_scope)
            booked.append(booking)
            return 202, transfer_view(booking.transfer).model_dump(mode="json")

        return await run_idempotent(
            repos.conn,
            caller=idempotency.caller,
            key=idempotency.key,
            fingerprint=idempotency.fingerprint,
            operation=book,
            savepoint=False,  # every refusal is raised before the first write
        )

    stored = await uow.grouped(
        start_in, locks=[request.source_wallet_id, request.destination_wallet_id]
    )
    for booking in booked:
        _count(shard, booking)
    if stored.replayed and stored.status_code == 202:
        return StoredResponse(200, stored.body, replayed=True)
    return stored


async def _book(
    repos: ShardRepositories,
    shard: ShardContext,
    request: LocalTransferRequest,
    *,
    owner_scope: str | None,
) -> LocalBooking:
    check_distinct_wallets(request.source_wallet_id, request.destination_wallet_id)
    bucket = bucket_of_id(request.source_wallet_id, prefix=WALLET_PREFIX)
    if bucket is None:
        raise NotFound("No such source wallet.")
    transfer_id = new_local_transfer_id(bucket)
    trace_id = current_trace_id()
    book = await load_leg_book(
        repos,
        shard,
        local_transfer_commands(transfer_id, request, trace_id=trace_id),
        new_transfers=True,
    )
    source = book.wallet(request.source_wallet_id)
    if source is None or (owner_scope is not None and source.user_id != owner_scope):
        raise NotFound("No such source wallet.")
    booking = book_local_transfer(book, transfer_id, request, at=book.at, trace_id=trace_id)
    await save_leg_book(repos, book)
    await repos.local_transfers.add(booking.transfer)
    await repos.publish(_events(shard, booking, trace_id))
    return booking


def _events(shard: ShardContext, booking: LocalBooking, trace_id: str) -> list[OutgoingMessage]:
    """Each side's `transaction.posted`, then the transfer's final event (as a saga sends)."""
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
