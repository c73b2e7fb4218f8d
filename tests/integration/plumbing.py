"""Helpers of the shared plumbing's tests (their fixtures are in tests/integration/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer

SERVICE = "plumbing-test"


async def read_topic(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 20.0, linger_s: float = 0.5
) -> list[Any]:
    """The records of `topic` from the beginning: `count` of them, plus whatever else arrives
    within `linger_s` after (so that tests see surplus records, not only the expected ones)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        linger_until = time.monotonic() + linger_s
        while time.monotonic() < linger_until:
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records
