"""The records a saga sends: commands to the shard that owns each wallet, and public events."""

from __future__ import annotations

from typing import Any

from wallet_shared.contracts.messages import (
    EventType,
    LegCommand,
    OutgoingMessage,
    encode_public_event,
    encode_transfer_message,
)
from wallet_shared.contracts.schemas import Transfer

from transfer_coordinator.domain.saga import TransferSaga, TransferStatus
from transfer_coordinator.service_layer.context import CoordinatorContext


def transfer_view(saga: TransferSaga) -> Transfer:
    """The public Transfer object of a saga (API.md)."""
    return Transfer(
        id=saga.id,
        source_wallet_id=saga.source_wallet_id,
        destination_wallet_id=saga.destination_wallet_id,
        amount=saga.amount,
        currency=saga.currency,
        description=saga.description,
        status=saga.status.value,
        failure_code=saga.failure_code,
        created_at=saga.created_at,
        updated_at=saga.updated_at,
    )


def transfer_json(saga: TransferSaga) -> dict[str, Any]:
    """The public Transfer object as JSON values (amounts as digit strings)."""
    return transfer_view(saga).model_dump(mode="json")


def command_records(
    ctx: CoordinatorContext, commands: tuple[LegCommand, ...] | list[LegCommand]
) -> list[OutgoingMessage]:
    """Each command on the command topic of the shard owning its wallet, keyed by wallet id
    (so that a wallet's commands stay in order)."""
    return [_command_record(ctx, command) for command in commands]


def _command_record(ctx: CoordinatorContext, command: LegCommand) -> OutgoingMessage:
    shard = ctx.shards.shard_for_wallet(command.wallet_id)
    if shard is None:
        # start_transfer refuses ids that are not wallet ids, so a stored saga always routes.
        raise ValueError(f"{command.wallet_id!r} is not a wallet id")
    topic = ctx.topics.shard_commands(shard)
    return encode_transfer_message(command, topic=topic, key=command.wallet_id)


def final_event(ctx: CoordinatorContext, saga: TransferSaga) -> OutgoingMessage:
    """`transfer.completed` or `transfer.cancelled`, keyed by the source wallet."""
    event_type = (
        EventType.TRANSFER_COMPLETED
        if saga.status is TransferStatus.COMPLETED
        else EventType.TRANSFER_CANCELLED
    )
    return encode_public_event(
        event_type,
        transfer_json(saga),
        topic=ctx.topics.events,
        wallet_id=saga.source_wallet_id,
        trace_id=saga.trace_id,
        occurred_at=saga.updated_at,
    )
