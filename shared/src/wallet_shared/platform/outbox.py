"""Transactional outbox: messages are written in the same DB transaction as the state change they
announce, and one relay per database publishes them to Kafka.

Delivery is at least once: a relay that dies between Kafka's acknowledgement and the delete, or a
pass that Kafka refused in part, publishes those messages again, and every consumer deduplicates.
Order is the order of ids, which per key is the order of the transactions that wrote them (writers
of one key hold its row lock); the idempotent producer keeps it within a partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from wallet_shared.contracts.messages import OutgoingMessage
from wallet_shared.platform.db import is_transient
from wallet_shared.platform.loops import BackgroundLoop
from wallet_shared.platform.metrics import OUTBOX_BACKLOG, OUTBOX_PARKED, OUTBOX_PUBLISHED
from wallet_shared.platform.writes import Write, write_together

_log = structlog.get_logger(__name__)

_LEADER_LOCK: Final = "wallet_shared.outbox_relay"

# Errors that say this message can never be published (not that Kafka is away): retrying it
# would hold back every message queued after it, so it is parked instead.
_REFUSED_FOR_GOOD: Final = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    TypeError,
    ValueError,
)

_PARK: Final = """
INSERT INTO outbox_parked (id, topic, key, value, headers, error, created_at)
SELECT o.id, o.topic, o.key, o.value, o.headers, refused.error, o.created_at
FROM unnest($1::bigint[], $2::text[]) AS refused(id, error)
JOIN outbox AS o ON o.id = refused.id
ON CONFLICT (id) DO NOTHING
"""

_DELETE: Final = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"

# A pass's read deletes what the pass before it published, in the same statement (one round
# trip, one commit): the delete runs whether or not the read uses it, and the read, on the
# snapshot from before the delete, leaves those rows out itself.
_READ_AFTER_DELETING: Final = """
WITH published AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]))
SELECT id, topic, key, value, headers::text AS headers
FROM outbox WHERE id <> ALL($1::bigint[]) ORDER BY id LIMIT $2
"""

_INSERT: Final = """
INSERT INTO outbox (topic, key, value, headers)
SELECT topic, key, value, headers::jsonb
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
     WITH ORDINALITY AS message(topic, key, value, headers, position)
ORDER BY position
"""


async def enqueue(conn: asyncpg.Connection, messages: Sequence[OutgoingMessage]) -> None:
    """Queue `messages` for publication, in this order, inside the caller's open transaction.

    Nothing is published unless that transaction commits. An empty key means "no key".
    """
    await write_together(conn, queueing(messages))


def queueing(messages: Sequence[OutgoingMessage]) -> list[Write]:
    """The write that queues `messages` as `enqueue` does, to send with a batch's other writes
    (`write_together`); none when there are no messages."""
    if not messages:
        return []
    columns = (
        [message.topic for message in messages],
        [message.key for message in messages],
        [message.value for message in messages],
        [orjson.dumps(message.headers).decode("utf-8") for message in messages],
    )
    return [Write(_INSERT, columns)]


class OutboxRelay(BackgroundLoop):
    """Publishes the outbox of one database, in id order and in batches, then deletes it (with
    the next pass's read, or the next idle poll's: at most `idle_poll_s` later).

    Every replica of a service runs one; a session advisory lock on a dedicated connection makes
    exactly one of them the publisher, and another takes over when that connection dies. That
    connection is taken from `pool` for as long as the relay runs: size the pool for it.
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        service: str,
        batch_size: int = 1000,
        idle_poll_s: float = 0.2,
        leader_poll_s: float = 0.5,
        stop_timeout_s: float = 10.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if idle_poll_s <= 0 or leader_poll_s <= 0:
            raise ValueError("poll intervals must be positive")
        # Stopping lets the batch in flight finish, or abandons it after `stop_timeout_s` (the
        # next leader publishes it again); the publisher lock is released either way.
        super().__init__(name="outbox_relay", service=service, stop_timeout_s=stop_timeout_s)
        self._pool = pool
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._idle_poll_s = idle_poll_s
        self._leader_poll_s = leader_poll_s
        self._wake = asyncio.Event()
        self._is_leader = False
        # Published and not deleted yet: the next pass's read deletes them. Each pass used to
        # delete its own rows in a round trip of its own, and when messages come one at a time
        # every round trip wakes PostgreSQL and then the relay, which costs more than the
        # statement (docs/performance.md, "a hand-off costs a wake-up"). Should the relay die
        # first, they are published again, which every consumer recognises.
        self._published: list[int] = []
        # Every series exists from the start, at 0: "nothing yet" on a dashboard, not "no data".
        OUTBOX_PARKED.labels(service)
        OUTBOX_PUBLISHED.labels(service)
        OUTBOX_BACKLOG.labels(service)

    @property
    def is_leader(self) -> bool:
        """Whether this relay currently holds the publisher lock."""
        return self._is_leader

    def wake(self) -> None:
        """Publish now rather than at the next poll: call after committing enqueued messages."""
        self._wake.set()

    def on_stopping(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            try:
                async with self._pool.acquire() as conn:
                    await self._lead(conn)
                failures = 0
            except Exception as error:
                # The database went away (or the lock connection died): back off, then compete
                # for the lock again; whoever holds it now publishes meanwhile.
                failures += 1
                await self.back_off(
                    "outbox_relay_database_error", error, failures, transient=is_transient(error)
                )

    async def _lead(self, conn: asyncpg.Connection) -> None:
        """Wait to become the publisher on `conn`, then publish until stopped."""
        while not await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", _LEADER_LOCK
        ):
            self.beat()
            if await self.pause(self._leader_poll_s):
                return
        self._is_leader = True
        _log.info("outbox_relay_leading", service=self._service)
        try:
            await self._publish_until_stopped(conn)
        finally:
            self._is_leader = False
            # A pass that ended otherwise than by the stop (a lost connection, the lock gone)
            # leaves its rows to be published again rather than deleted later over another
            # connection: after a failover the database's ids may have been handed out again.
            self._published = []
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.execute(
                        "SELECT pg_advisory_unlock(hashtextextended($1, 0))", _LEADER_LOCK
                    )

    async def _publish_until_stopped(self, conn: asyncpg.Connection) -> None:
        kafka_failures = 0
        while not self.stopping:
            self.beat()
            # Cleared before reading, so that a wake() during the pass triggers the next one.
            self._wake.clear()
            rows = await conn.fetch(_READ_AFTER_DELETING, self._published, self._batch_size)
            self._published = []
            await self._observe_backlog(conn, len(rows))
            try:
                refused = await self._publish(rows)
            except Exception as error:
                # Kafka is away or refusing: keep the lock and the rows, and try the same batch
                # again (what did get through is published twice; consumers deduplicate).
                kafka_failures += 1
                await self.back_off(
                    "outbox_relay_publish_failed", error, kafka_failures, messages=len(rows)
                )
                continue
            kafka_failures = 0
            if rows:
                await self._settle(conn, rows, refused)
            if len(rows) < self._batch_size:
                await self._wait_for_work()
        if self._published:
            # Stopping: what was published leaves the outbox now rather than with a next pass.
            await conn.execute(_DELETE, self._published)
            self._published = []

    async def _observe_backlog(self, conn: asyncpg.Connection, batch: int) -> None:
        if batch < self._batch_size:
            OUTBOX_BACKLOG.labels(self._service).set(batch)
            return
        # More than a batch is waiting: min/max come from the primary key index; ids skipped by
        # rolled-back transactions make this an upper bound, which is what an alert wants.
        span = await conn.fetchval("SELECT max(id) - min(id) + 1 FROM outbox")
        OUTBOX_BACKLOG.labels(self._service).set(span or 0)

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> dict[int, str]:
        """Publish `rows`; raise when a retry may get them through. Returns the rows Kafka
        refused for good (id → error), to be parked instead of retried forever."""
        # Everything is handed to the producer before anything is awaited, so that it batches;
        # with idempotence it keeps the order of each partition.
        refused: dict[int, str] = {}
        deliveries: list[tuple[int, asyncio.Future[Any]]] = []
        try:
            for row in rows:
                try:
                    deliveries.append((row["id"], await self._producer.send(**_record(row))))
                except _REFUSED_FOR_GOOD as error:
                    refused[row["id"]] = f"{type(error).__name__}: {error}"
        finally:
            outcomes = await asyncio.gather(*(d for _, d in deliveries), return_exceptions=True)
        for (row_id, _), outcome in zip(deliveries, outcomes, strict=True):
            if isinstance(outcome, _REFUSED_FOR_GOOD):
                refused[row_id] = f"{type(outcome).__name__}: {outcome}"
            elif isinstance(outcome, BaseException):
                raise outcome
        return refused

    async def _settle(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], refused: dict[int, str]
    ) -> None:
        """Leave what was published to the next pass's read to delete; park what Kafka refused
        for good, deleting the whole pass with it in one transaction."""
        published = [row["id"] for row in rows]
        if not refused:
            self._published = published
        else:
            async with conn.transaction():
                await conn.execute(_PARK, list(refused), list(refused.values()))
                await conn.execute(_DELETE, published)
        for row_id, error in refused.items():
            _log.error("outbox_message_parked", service=self._service, id=row_id, error=error)
        OUTBOX_PARKED.labels(self._service).inc(len(refused))
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows) - len(refused))

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_poll_s)


def _record(row: asyncpg.Record) -> dict[str, Any]:
    headers: dict[str, str] = orjson.loads(row["headers"])
    return {
        "topic": row["topic"],
        "key": row["key"].encode("utf-8") if row["key"] else None,
        "value": bytes(row["value"]),
        "headers": [(name, value.encode("utf-8")) for name, value in headers.items()],
    }
