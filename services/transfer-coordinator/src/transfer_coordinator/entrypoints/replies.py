"""The reply consumer: shards' replies on `wallet.transfer-replies`, a batch per transaction."""

from __future__ import annotations

from functools import partial

from wallet_shared.contracts.messages import LegReply, decode_reply
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import BatchConsumer

from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.replies import handle_replies
from transfer_coordinator.service_layer.waiting import FinalWaiters
from transfer_coordinator.settings import SERVICE, CoordinatorSettings


def reply_consumer(
    ctx: CoordinatorContext,
    settings: CoordinatorSettings,
    dead_letters: DeadLetterStore,
    *,
    waiters: FinalWaiters | None = None,
) -> BatchConsumer[LegReply]:
    """The consumer of the reply topic, in the coordinator's consumer group; `waiters` are
    handed each saga a batch has made final, once committed."""
    return BatchConsumer(
        bootstrap=settings.kafka_bootstrap,
        topic=settings.topics().transfer_replies,
        group_id=f"{settings.topic_prefix}{SERVICE}",
        service=SERVICE,
        decode=decode_reply,
        handle_batch=partial(handle_replies, ctx, waiters=waiters),
        dead_letters=dead_letters,
    )
