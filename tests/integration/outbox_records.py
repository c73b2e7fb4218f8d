"""Reading a service's outbox in tests, as its relay would: in id order, removing what it read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from wallet_shared.contracts.messages import TransferMessage, decode_transfer_message


@dataclass(frozen=True)
class OutboxRecord:
    topic: str
    key: str
    value: bytes
    headers: dict[str, str]

    def message(self) -> TransferMessage:
        return decode_transfer_message(self.value)

    def event(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(self.value)
        return body


async def take_outbox(pool: asyncpg.Pool) -> list[OutboxRecord]:
    """Everything queued since the last call, in order (then removed, as the relay would)."""
    rows = await pool.fetch(
        "DELETE FROM outbox RETURNING id, topic, key, value, headers::text AS headers"
    )
    return [
        OutboxRecord(row["topic"], row["key"], bytes(row["value"]), orjson.loads(row["headers"]))
        for row in sorted(rows, key=lambda row: row["id"])
    ]
