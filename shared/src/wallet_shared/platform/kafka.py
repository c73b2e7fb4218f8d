"""Kafka plumbing every service shares: the idempotent producer, topic set-up, readiness, and the
batch consumer with its records (defined in `wallet_shared.platform.consumer`, exported here too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from wallet_shared.platform.consumer import BatchConsumer, ConsumedRecord

_log = structlog.get_logger(__name__)


async def start_producer(
    bootstrap: str,
    *,
    client_id: str,
    linger_ms: int = 0,
    connect_timeout_s: float = 30.0,
) -> AIOKafkaProducer:
    """A started idempotent producer (acks from all in-sync replicas, no duplicates on retry).

    `linger_ms` 0: the outbox relay hands a whole pass to the producer before it awaits
    anything, so the pass leaves as one request anyway; lingering only delayed every hop.

    Retries while the broker is not answering yet, until `connect_timeout_s` has passed.
    """
    deadline = time.monotonic() + connect_timeout_s
    delay = 0.2
    while True:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
        )
        try:
            await producer.start()
            return producer
        except KafkaError as error:
            await producer.stop()
            if time.monotonic() + delay > deadline:
                raise
            _log.warning("kafka_not_ready", error=str(error), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def kafka_ready(producer: AIOKafkaProducer, *, timeout_s: float = 2.0) -> bool:
    """Whether the cluster answers a metadata request within `timeout_s` (readiness probes)."""
    try:
        async with asyncio.timeout(timeout_s):
            cluster = await producer.client.fetch_all_metadata()
        return bool(cluster.brokers())
    except Exception:
        return False


async def ensure_topics(
    bootstrap: str,
    topics: Sequence[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> None:
    """Create whichever of `topics` do not exist yet, and wait until all of them have leaders.

    Safe to call from every replica at once: a topic someone else just created is fine.
    """
    wanted = list(dict.fromkeys(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="wallet-topic-setup")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic not in existing]
        if missing:
            new = [NewTopic(topic, partitions, replication_factor) for topic in missing]
            response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
            _raise_creation_errors(response.topic_errors)
            _log.info("topics_created", topics=missing, partitions=partitions)
        await _wait_for_leaders(admin, wanted, deadline=time.monotonic() + timeout_s)
    finally:
        await admin.close()


def _raise_creation_errors(entries: Sequence[Sequence[Any]]) -> None:
    # Entries are (topic, error_code[, error_message]) depending on the protocol version; a topic
    # that another replica created meanwhile is what we wanted.
    for topic, code, *rest in entries:
        if code == 0:
            continue
        error_type = for_code(code)
        if error_type is not TopicAlreadyExistsError:
            detail = rest[0] if rest and rest[0] else error_type.__name__
            raise error_type(f"topic {topic}: {detail}")


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: Sequence[str], *, deadline: float
) -> None:
    while True:
        described = await admin.describe_topics(list(topics))
        if all(_has_leaders(topic) for topic in described) and len(described) == len(topics):
            return
        if time.monotonic() > deadline:
            raise KafkaError(f"topics without leaders after creation: {list(topics)}")
        await asyncio.sleep(0.1)


def _has_leaders(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return (
        topic.get("error_code") == 0
        and bool(partitions)
        and all(p.get("leader", -1) >= 0 for p in partitions)
    )


__all__ = [
    "BatchConsumer",
    "ConsumedRecord",
    "ensure_topics",
    "kafka_ready",
    "start_producer",
]
