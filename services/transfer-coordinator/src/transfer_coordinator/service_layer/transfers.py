"""Starting a transfer, and reading transfers back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

import orjson
from wallet_shared.contracts.errors import (
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
    WalletError,
)
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
from wallet_shared.platform.batch_commit import BatchCommit
from wallet_shared.platform.idempotency import (
    StoredResponse,
    request_fingerprint,
    run_idempotent_batch,
)
from wallet_shared.platform.unit_of_work import OutboxTransaction
from wallet_shared.platform.writes import Write

from transfer_coordinator.adapters import claims, repository
from transfer_coordinator.domain.saga import TransferSaga
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


class TransferStarts:
    """Starts transfer sagas, at most once per (caller, idempotency key); the starts that arrive
    together are stored together, in one transaction with a fixed number of statements
    (`wallet_shared.platform.batch_commit`)."""

    def __init__(self, ctx: CoordinatorContext, *, max_in_flight: int = 2) -> None:
        self._ctx = ctx
        self._batches: BatchCommit[OutboxTransaction, StartTransfer, StoredResponse] = BatchCommit(
            ctx.uow, self._start_together, max_in_flight=max_in_flight
        )

    async def start(self, command: StartTransfer) -> StoredResponse:
        """Store a pending saga and queue TryDebit and TryCredit, in one transaction.

        The answer (202 with the Transfer, or a refusal) is stored under the idempotency key
        with the saga, so a repeated request gets the same answer and starts nothing; a repeat
        of a transfer that has become final since is told its final state (200).
        """
        stored = await self._batches.submit(command)
        if stored.replayed and stored.status_code == 202:
            return await _current_answer(self._ctx, stored)
        return stored

    async def _start_together(
        self, tx: OutboxTransaction, batch: list[StartTransfer]
    ) -> list[StoredResponse | WalletError]:
        ctx = self._ctx
        requests = [_KeyedStart(command, _fingerprint(command)) for command in batch]
        begun: dict[int, tuple[TransferSaga, list[OutgoingMessage]] | WalletError] = {}
        held: dict[int, str] = {}

        async def prepare(positions: list[int]) -> None:
            # Every refusal of the checks first (no I/O), then the keys of the others claimed
            # system-wide in one statement.
            for position in positions:
                try:
                    begun[position] = _begin_saga(ctx, batch[position])
                except WalletError as refusal:
                    begun[position] = refusal
            claiming = [p for p in positions if not isinstance(begun[p], WalletError)]
            if claiming:
                claimed = await claims.claim(tx.conn, [requests[p].claim() for p in claiming])
                held.update(zip(claiming, claimed, strict=True))

        started: list[tuple[TransferSaga, list[OutgoingMessage]]] = []

        async def start_one(position: int) -> tuple[int, Any]:
            saga_and_records = begun[position]
            if isinstance(saga_and_records, WalletError):
                raise saga_and_records
            if held[position] != requests[position].claim_fingerprint:
                raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
            started.append(saga_and_records)
            return 202, transfer_json(saga_and_records[0])

        def writes() -> list[Write]:
            return [
                *repository.inserting_sagas([saga for saga, _ in started]),
                *tx.publishing([record for _, records in started for record in records]),
            ]

        # The sagas and their Tries go in the statement that stores the answers: one round trip.
        return await run_idempotent_batch(
            tx.conn, requests, start_one, prepare=prepare, writes=writes
        )


@dataclass(frozen=True, slots=True)
class _KeyedStart:
    """A start under its key: the fingerprint of this internal request (its stored answer's)
    and the one its key is claimed under system-wide (the public request's)."""

    command: StartTransfer
    fingerprint: str

    @property
    def caller(self) -> str:
        return self.command.caller

    @property
    def key(self) -> str:
        return self.command.idempotency_key

    @property
    def claim_fingerprint(self) -> str:
        return self.command.claim_fingerprint or self.fingerprint

    def claim(self) -> tuple[str, str, str]:
        return (self.caller, self.key, self.claim_fingerprint)


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
