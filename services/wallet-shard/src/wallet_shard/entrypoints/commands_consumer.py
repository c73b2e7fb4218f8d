"""The shard's Kafka entrypoint: TCC commands from its command topic, in batches."""

from __future__ import annotations

from functools import partial

from wallet_shared.contracts.messages import LegCommand, decode_command
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import BatchConsumer

from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.transfer_commands import handle_transfer_commands
from wallet_shard.service_layer.unit_of_work import UnitOfWork


def consumer_group(shard: ShardContext) -> str:
    """One group per shard (its replicas share the partitions); the prefix isolates deployments."""
    return f"{shard.topics.prefix}wallet-shard-{shard.shard_id}"


def create_commands_consumer(
    *,
    bootstrap: str,
    service: str,
    uow: UnitOfWork,
    shard: ShardContext,
    dead_letters: DeadLetterStore,
) -> BatchConsumer[LegCommand]:
    """The consumer of this shard's command topic; each batch is one DB transaction."""
    return BatchConsumer(
        bootstrap=bootstrap,
        topic=shard.topics.shard_commands(shard.shard_id),
        group_id=consumer_group(shard),
        service=service,
        decode=decode_command,
        handle_batch=partial(handle_transfer_commands, uow, shard),
        dead_letters=dead_letters,
    )
