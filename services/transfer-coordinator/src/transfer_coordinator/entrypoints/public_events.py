"""The consumer of the public event topic (webhook deliveries, risk rules), in a consumer group
of its own: it never competes with the reply consumer that moves transfers on."""

from __future__ import annotations

from functools import partial

from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import BatchConsumer

from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.service_layer.public_events import (
    PublicEvent,
    decode_public_event,
    handle_public_events,
)
from transfer_coordinator.settings import SERVICE, CoordinatorSettings

GATHER_S = 0.2
"""The least time between the starts of two batches of public events. Flags and webhooks never
hold money back (API.md), so they may wait this long for the events after them; the transfers
that raise three events each are spared a batch per event on a machine that is not full."""


def public_events_consumer(
    ctx: OversightContext, settings: CoordinatorSettings, dead_letters: DeadLetterStore
) -> BatchConsumer[PublicEvent]:
    """Reads `wallet.events.v1` as group `<prefix>transfer-coordinator.oversight`."""
    return BatchConsumer(
        bootstrap=settings.kafka_bootstrap,
        topic=settings.topics().events,
        group_id=f"{settings.topic_prefix}{SERVICE}.oversight",
        service=SERVICE,
        decode=decode_public_event,
        handle_batch=partial(handle_public_events, ctx),
        dead_letters=dead_letters,
        gather_s=GATHER_S,
    )
