"""The AsyncAPI document describes what a running system really puts on Kafka: after a workload
that exercises every kind of message, every record of every topic of the system is read back and
validated against the document (channel by topic, message by its headers, payload and headers
schemas); and each kind the workload must have produced was seen."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from wallet_devtools.cluster import WalletCluster
from wallet_shared.contracts.asyncapi import build_document
from wallet_shared.contracts.messages import OutgoingMessage
from wallet_shared.contracts.topics import DEAD_LETTER_SUFFIX

from tests.e2e.client import Gateway
from tests.e2e.test_dead_letters import POISON
from tests.e2e.test_monitoring import drive_workload
from tests.unit.shared.test_asyncapi import validate

# What drive_workload causes: completed and cancelled transfers between shards, a freeze, a
# risk flag and a poison command.
EXPECTED = frozenset(
    {
        "TryDebit",
        "TryCredit",
        "ConfirmDebit",
        "ConfirmCredit",
        "DebitTried",
        "CreditTried",
        "DebitConfirmed",
        "CreditConfirmed",
        "wallet.created",
        "wallet.status_changed",
        "transaction.posted",
        "transfer.completed",
        "transfer.cancelled",
        "risk.flagged",
        "DeadLetter",
    }
)


async def test_every_record_on_the_topics_fits_the_asyncapi_document(
    cluster: WalletCluster, gw: Gateway, kafka_bootstrap: str
) -> None:
    document = build_document()
    await drive_workload(cluster, gw, kafka_bootstrap)
    topics = [
        cluster.topic_prefix + channel["address"].replace("{shard}", str(shard))
        for channel in document["channels"].values()
        for shard in range(len(cluster.services) - 2)  # every service but gateway, coordinator
    ]
    consumer = AIOKafkaConsumer(
        *sorted(set(topics)),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: dict[str, int] = {}
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while not seen.keys() >= EXPECTED:
            assert time.monotonic() < deadline, f"never seen: {sorted(EXPECTED - seen.keys())}"
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for part in batches.values() for r in part):
                if record.value == POISON and not record.topic.endswith(DEAD_LETTER_SUFFIX):
                    continue  # the workload's own poison command: not the system's output
                name = validate(document, _outgoing(record))
                kind = document["components"]["messages"][name]["name"]
                seen[kind] = seen.get(kind, 0) + 1
    finally:
        await consumer.stop()
    assert sum(seen.values()) > 30, seen


def _outgoing(record: Any) -> OutgoingMessage:
    # The record as the outbox published it (headers as text, value as bytes).
    prefix_free = record.topic.split(".", 1)[1]  # the cluster's prefix is `t<hex>.`
    return OutgoingMessage(
        topic=prefix_free,
        key=(record.key or b"").decode(),
        value=record.value or b"",
        headers={name: value.decode() for name, value in record.headers or ()},
    )
