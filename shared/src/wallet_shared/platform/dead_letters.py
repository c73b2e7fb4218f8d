"""Dead letters: records a consumer could not handle, kept in the service's database (for the admin
API: list, replay) and published to `<topic>.dlq` through the outbox, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
import orjson

from wallet_shared.contracts.errors import Conflict, NotFound
from wallet_shared.contracts.messages import OutgoingMessage
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.audit import AuditEntry, record_actions
from wallet_shared.platform.consumer import ConsumedRecord
from wallet_shared.platform.db import transaction
from wallet_shared.platform.metrics import DEAD_LETTERS
from wallet_shared.platform.outbox import OutboxRelay, enqueue

MAX_ERROR_CHARS: Final = 2000
"""Errors are cut to this length: a header, not a stack dump."""

_COLUMNS: Final = (
    'id, service, topic, partition, "offset", key, value, headers::text AS headers, error,'
    " attempts, created_at, replayed_at, replay_topic"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A stored dead letter."""

    id: int
    service: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None
    replay_topic: str | None = None
    """Where a replay publishes it when not to `topic` (a restored system's topics)."""

    @property
    def destination(self) -> str:
        """The topic a replay publishes to."""
        return self.replay_topic or self.topic


def dead_letter_message(record: ConsumedRecord, *, error: str, attempts: int) -> OutgoingMessage:
    """The `<topic>.dlq` record of a failed record: its key, value and headers, plus where it came
    from and why it failed (headers `error`, `attempts`, `origin_topic`, `origin_partition`,
    `origin_offset`)."""
    headers = _text_headers(record)
    headers.update(
        error=error,
        attempts=str(attempts),
        origin_topic=record.topic,
        origin_partition=str(record.partition),
        origin_offset=str(record.offset),
    )
    return OutgoingMessage(
        topic=Topics.dead_letters(record.topic),
        key=_text(record.key),
        value=record.value or b"",
        headers=headers,
    )


class DeadLetterStore:
    """Where a service's consumers put what they cannot handle."""

    def __init__(self, *, pool: asyncpg.Pool, service: str, relay: OutboxRelay) -> None:
        self._pool = pool
        self._service = service
        self._relay = relay

    async def add(self, record: ConsumedRecord, *, error: str, attempts: int) -> None:
        """Store `record` as a dead letter and queue it for `<topic>.dlq`, in one transaction.

        A record already dead-lettered (redelivered after a crash) is not added twice.
        """
        error = error[:MAX_ERROR_CHARS]
        async with transaction(self._pool) as conn:
            added = await conn.fetchval(
                "INSERT INTO dead_letters"
                ' (service, topic, partition, "offset", key, value, headers, error, attempts)'
                " VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9)"
                ' ON CONFLICT (topic, partition, "offset") DO NOTHING RETURNING id',
                self._service,
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                orjson.dumps(_text_headers(record)).decode("utf-8"),
                error,
                attempts,
            )
            if added is not None:
                await enqueue(conn, [dead_letter_message(record, error=error, attempts=attempts)])
        if added is not None:
            DEAD_LETTERS.labels(self._service, record.topic).inc()
            self._relay.wake()

    async def page(
        self, *, limit: int = 50, before: tuple[datetime, int] | None = None
    ) -> list[DeadLetter]:
        """Dead letters newest first by `(created_at, id)`, strictly after the position `before`
        (the order and position of the admin API's lists, which merge several services)."""
        after_time, after_id = before if before is not None else (None, None)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM dead_letters"
            " WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1, $2::bigint)"
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            after_time,
            after_id,
            limit,
        )
        return [_dead_letter(row) for row in rows]

    async def replay(self, dead_letter_id: int, *, audit: AuditEntry | None = None) -> DeadLetter:
        """Publish a dead letter again to its original topic (through the outbox) and mark it
        replayed. Raises NotFound for an unknown id and Conflict for a dead letter replayed before
        (checked under the row's lock, so two concurrent replays publish once). `audit` is
        recorded in the same transaction."""
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1 FOR UPDATE", dead_letter_id
            )
            if row is None:
                raise NotFound(f"No dead letter {dead_letter_id}.")
            letter = _dead_letter(row)
            if letter.replayed_at is not None:
                raise Conflict(
                    "This dead letter was replayed already, at "
                    f"{letter.replayed_at.isoformat()}; a replay that failed again is a new "
                    "dead letter, replay that one."
                )
            headers = {**letter.headers, "replayed_dead_letter": str(letter.id)}
            await enqueue(
                conn,
                [
                    OutgoingMessage(
                        topic=letter.destination,
                        key=_text(letter.key),
                        value=letter.value or b"",
                        headers=headers,
                    )
                ],
            )
            row = await conn.fetchrow(
                f"UPDATE dead_letters SET replayed_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
                dead_letter_id,
            )
            if audit is not None:
                await record_actions(conn, [audit], service=self._service, at=row["replayed_at"])
        self._relay.wake()
        return _dead_letter(row)


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _text_headers(record: ConsumedRecord) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in record.headers}


def _dead_letter(row: asyncpg.Record) -> DeadLetter:
    return DeadLetter(**{**dict(row), "headers": orjson.loads(row["headers"])})
