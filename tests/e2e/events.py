"""Reading the public event topic of a test's cluster (API.md, "Public event topic")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from wallet_devtools.cluster import WalletCluster
from wallet_shared.contracts.topics import Topics


async def posted_transactions(
    cluster: WalletCluster, transaction_ids: Collection[str], *, timeout_s: float = 60.0
) -> dict[str, dict[str, Any]]:
    """The `transaction.posted` events of `transaction_ids`, by transaction id; fails when some
    have not arrived within `timeout_s`."""
    consumer = AIOKafkaConsumer(
        Topics(prefix=cluster.topic_prefix).events,
        bootstrap_servers=cluster.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    wanted = set(transaction_ids)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    await consumer.start()
    try:
        while not wanted <= found.keys():
            assert time.monotonic() < deadline, f"events missing for {wanted - found.keys()}"
            batch = await consumer.getmany(timeout_ms=200)
            for record in (r for part in batch.values() for r in part):
                event = orjson.loads(record.value)
                if event["event_type"] == "transaction.posted":
                    found[event["transaction"]["id"]] = event
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return {tid: found[tid] for tid in wanted}
