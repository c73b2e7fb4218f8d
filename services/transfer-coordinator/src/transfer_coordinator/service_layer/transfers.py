"""Starting a transfer, and reading transfers back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

import orjson
from wallet_shared.contracts.errors import NotFound, ValidationFailed
from wallet_shared.contracts.ids import is_transfer_id, new_transfer_id
from wallet_shared.contracts.messages import OutgoingMessage
from wallet_shared.contracts.pagination import (
    Page,
    cut_page,
    decode_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.contracts.rules import check_distinct_wallets
from wallet_shared.contracts.schemas import Transfer
from wallet_shared.platform.idempotency import StoredResponse, request_fingerprint, run_idempotent
from wallet_shared.platform.unit_of_work import OutboxTransaction

from transfer_coordinator.adapters import repository
from transfer_coordinator.domain.saga import TransferSaga
from transfer_coordinator.service_layer.claims import claim_key_in
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.outgoing import (
    command_records,
    transfer_json,
    transfer_view,
)

START_PATH: Final = "/internal/transfers"
"""The path idempotency fingerprints are taken over (the request that starts a transfer)."""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """What the caller asks to move; the part of the request an idempotency key is bound to."""

    source_wallet_id: str
    destination_wallet_id: str
    amount: int
    currency: str
    description: str | None
    initiator: str


@dataclass(frozen=True, slots=True)
class StartTransfer:
    """Command: start a transfer saga, at most once per (caller, idempotency key)."""

    request: TransferRequest
    caller: str
    idempotency_key: str
    trace_id: str = ""
    claim_fingerprint: str | None = None
    """The fingerprint of the public request (the gateway's), under which the key is claimed
    system-wide; by default that of this internal request."""


async def start_transfer(ctx: CoordinatorContext, command: StartTransfer) -> StoredResponse:
    """Store a pending saga and queue TryDebit and TryCredit, in one transaction.

    The answer (202 with the Transfer, or a refusal) is stored under the idempotency key with
    the saga, so a repeated request gets the same answer and starts nothing.
    """
    fingerprint = _fingerprint(command)

    async def start_in(tx: OutboxTransaction) -> StoredResponse:
        conn = tx.conn

        async def begin() -> tuple[int, Any]:
            # Every refusal is raised here, before any write: nothing to undo, so no savepoint
            # (and the transaction, shared with concurrent starts, goes on for the others).
            saga, records = _begin_saga(ctx, command)
            await claim_key_in(
                conn,
                caller=command.caller,
                key=command.idempotency_key,
                fingerprint=command.claim_fingerprint or fingerprint,
            )
            await repository.insert_saga(conn, saga)
            await tx.publish(records)
            return 202, transfer_json(saga)

        return await run_idempotent(
            conn,
            caller=command.caller,
            key=command.idempotency_key,
            fingerprint=fingerprint,
            operation=begin,
            savepoint=False,
        )

    stored = await ctx.uow.grouped(start_in)
    if stored.replayed and stored.status_code == 202:
        return await _current_answer(ctx, stored)
    return stored


async def _current_answer(ctx: CoordinatorContext, stored: StoredResponse) -> StoredResponse:
    """A repeated start of a transfer that has become final since its first answer is told the
    final state, 200 (what a caller who waited was told); one still pending, the stored 202."""
    saga = await repository.get_saga(ctx.pool, str(orjson.loads(stored.body)["id"]))
    if saga is None or not saga.is_final:
        return stored
    return StoredResponse(200, orjson.dumps(transfer_json(saga)), replayed=True)


def _fingerprint(command: StartTransfer) -> str:
    return request_fingerprint("POST", START_PATH, asdict(command.request))


def _begin_saga(
    ctx: CoordinatorContext, command: StartTransfer
) -> tuple[TransferSaga, list[OutgoingMessage]]:
    request = command.request
    _check_transfer(ctx, request)
    now = ctx.clock()
    begun = TransferSaga.begin(
        transfer_id=new_transfer_id(),
        source_wallet_id=request.source_wallet_id,
        destination_wallet_id=request.destination_wallet_id,
        amount=request.amount,
        currency=request.currency,
        description=request.description,
        initiator=request.initiator,
        trace_id=command.trace_id,
        now=now,
        deadline_at=now + ctx.transfer_deadline,
    )
    return begun.saga, command_records(ctx, begun.commands)


def _check_transfer(ctx: CoordinatorContext, request: TransferRequest) -> None:
    check_distinct_wallets(request.source_wallet_id, request.destination_wallet_id)
    if ctx.shards.shard_for_wallet(request.source_wallet_id) is None:
        raise NotFound("No such source wallet.")
    if ctx.shards.shard_for_wallet(request.destination_wallet_id) is None:
        raise NotFound("No such destination wallet.")
    if request.amount > ctx.max_amount:
        raise ValidationFailed(
            "The amount is too large.",
            errors=[{"field": "amount", "message": f"must be at most {ctx.max_amount}"}],
        )


async def get_transfer(ctx: CoordinatorContext, transfer_id: str) -> Transfer:
    """One transfer; `NotFound` when the id names none (whatever its form)."""
    saga = await repository.get_saga(ctx.pool, transfer_id) if is_transfer_id(transfer_id) else None
    if saga is None:
        raise NotFound("No such transfer.")
    return transfer_view(saga)


async def list_transfers(
    ctx: CoordinatorContext, *, wallet_id: str, limit: int, cursor: str | None
) -> Page[Transfer]:
    """A wallet's transfers, as source or destination, newest first."""
    after = parse_time_position(decode_cursor(cursor, arity=2)) if cursor is not None else None
    sagas = await repository.list_for_wallet(ctx.pool, wallet_id, limit=limit + 1, after=after)
    page, next_cursor = cut_page(
        sagas, limit=limit, position=lambda last: time_position(last.created_at, last.id)
    )
    return Page[Transfer](items=[transfer_view(saga) for saga in page], next_cursor=next_cursor)
