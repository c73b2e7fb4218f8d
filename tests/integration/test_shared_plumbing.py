"""The shared plumbing against a real PostgreSQL and a real Kafka broker: migrations, transactions,
the outbox relay, the batch consumer with its dead letters, and idempotency keys.

Each test gets a fresh database (`database_dsn`) and its own topic prefix (`topic_prefix`) on the
session's servers (tests/conftest.py); `pool`, `producer` and `relay` come from
tests/integration/conftest.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY
from wallet_shared.contracts.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InsufficientFunds,
    ServiceUnavailable,
    TransientError,
)
from wallet_shared.contracts.messages import OutgoingMessage, UndecodableMessage
from wallet_shared.platform.db import (
    SHARED_MIGRATIONS,
    apply_migrations,
    create_pool,
    database_ready,
    migration_files,
    transaction,
)
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.idempotency import (
    StoredResponse,
    request_fingerprint,
    run_idempotent,
    run_idempotent_batch,
)
from wallet_shared.platform.kafka import (
    BatchConsumer,
    ConsumedRecord,
    ensure_topics,
    kafka_ready,
)
from wallet_shared.platform.outbox import OutboxRelay, enqueue
from wallet_shared.platform.writes import Write

from tests.integration.plumbing import SERVICE, read_topic

# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def topics(kafka_bootstrap: str, topic_prefix: str) -> Callable[[str], Awaitable[str]]:
    """Makes a topic and its `.dlq` under the test's prefix (2 partitions each); the prefix
    fixture deletes them afterwards."""

    async def make(name: str) -> str:
        topic = topic_prefix + name
        await ensure_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=2)
        return topic

    return make


# --- helpers ---------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def fail_inside_transaction(
    pool: asyncpg.Pool,
    error: Exception,
    work: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    *,
    fresh_plans: bool = False,
) -> None:
    """Do `work` in a transaction, then fail with `error` before it commits."""
    async with transaction(pool, fresh_plans=fresh_plans) as conn:
        await conn.execute("SELECT 1")
        if work is not None:
            await work(conn)
        raise error


def outgoing(topic: str, key: str, text: str) -> OutgoingMessage:
    return OutgoingMessage(topic=topic, key=key, value=text.encode(), headers={"note": text})


def decode_text(value: bytes | None) -> str:
    if value is None or not value.startswith(b"msg-"):
        raise UndecodableMessage("not a test message")
    return value.decode()


# --- (a) migrations and transactions ---------------------------------------------------------


def _write_migrations(folder: Path) -> str:
    package = f"plumbing_migrations_{uuid.uuid4().hex[:8]}"
    root = folder / package
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "002_seed.sql").write_text("INSERT INTO ledger_note (text) VALUES ('seeded');")
    (root / "001_table.sql").write_text(
        "CREATE TABLE ledger_note (id serial PRIMARY KEY, text text NOT NULL);"
    )
    (root / "notes.txt").write_text("not a migration")
    return package


async def test_migrations_apply_once_even_twice_and_concurrently(
    database_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _write_migrations(tmp_path)
    first = await create_pool(database_dsn, min_size=1, max_size=2)
    second = await create_pool(database_dsn, min_size=1, max_size=2)
    try:
        await asyncio.gather(
            apply_migrations(first, package=package), apply_migrations(second, package=package)
        )
        await apply_migrations(first, package=package)
        applied = await first.fetch(
            "SELECT stream, version FROM schema_migrations ORDER BY stream, version"
        )
        assert [tuple(row) for row in applied] == [
            (package, 1),
            (package, 2),
            *((SHARED_MIGRATIONS, m.version) for m in migration_files(SHARED_MIGRATIONS)),
        ]
        assert await first.fetchval("SELECT count(*) FROM ledger_note") == 1
        for table in ("outbox", "outbox_parked", "idempotency_keys", "dead_letters"):
            assert await first.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        assert await database_ready(first)
    finally:
        await first.close()
        await second.close()


async def test_fresh_plans_last_as_long_as_the_transaction(database_dsn: str) -> None:
    # One connection: what the transaction leaves on the session is what the next user gets.
    pool = await create_pool(database_dsn, min_size=1, max_size=1)
    try:
        await pool.execute("CREATE TABLE planned (id int PRIMARY KEY)")
        async with transaction(pool, fresh_plans=True) as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
            await conn.execute("INSERT INTO planned VALUES (1)")
            with pytest.raises(asyncpg.InterfaceError):  # a nested BEGIN is refused
                async with conn.transaction():
                    pass
        # Committed; the pooled session keeps its default: only the transaction plans afresh.
        assert await pool.fetchval("SELECT count(*) FROM planned") == 1
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"

        async def insert_2_then_1(conn: asyncpg.Connection) -> None:
            await conn.execute("INSERT INTO planned VALUES (2)")
            await conn.execute("INSERT INTO planned VALUES (1)")

        with pytest.raises(asyncpg.UniqueViolationError):
            await fail_inside_transaction(pool, RuntimeError(), insert_2_then_1, fresh_plans=True)
        with pytest.raises(RuntimeError):
            await fail_inside_transaction(pool, RuntimeError("the batch failed"), fresh_plans=True)
        assert await pool.fetchval("SELECT count(*) FROM planned") == 1  # both rolled back
        with pytest.raises(TransientError):
            async with transaction(pool, fresh_plans=True) as conn:
                await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await pool.close()


async def test_transaction_translates_backend_failures(pool: asyncpg.Pool) -> None:
    with pytest.raises(TransientError) as lost:
        async with transaction(pool) as conn:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert lost.value.__cause__ is not None

    conflict = asyncpg.exceptions.SerializationError("could not serialize access")
    with pytest.raises(TransientError) as serialization:
        await fail_inside_transaction(pool, conflict)
    assert isinstance(serialization.value.__cause__, asyncpg.exceptions.SerializationError)

    await pool.execute("CREATE TABLE unique_thing (id int PRIMARY KEY)")
    await pool.execute("INSERT INTO unique_thing VALUES (1)")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with transaction(pool) as conn:
            await conn.execute("INSERT INTO unique_thing VALUES (1)")

    async with transaction(pool) as conn:
        await conn.execute("INSERT INTO unique_thing VALUES (2)")
    assert await pool.fetchval("SELECT count(*) FROM unique_thing") == 2


# --- (b) outbox -----------------------------------------------------------------------------


async def test_outbox_publishes_committed_messages_in_order_and_nothing_rolled_back(
    pool: asyncpg.Pool, relay: OutboxRelay, topics: Any, kafka_bootstrap: str
) -> None:
    topic = await topics("outbox")
    published_before = _published()

    refused = [outgoing(topic, "wlt_a", f"rolled-back-{i}") for i in range(3)]
    with pytest.raises(RuntimeError):
        await fail_inside_transaction(
            pool, RuntimeError("the business rule refused"), lambda conn: enqueue(conn, refused)
        )
    committed = [outgoing(topic, "wlt_a" if i % 2 else "wlt_b", f"kept-{i}") for i in range(20)]
    async with transaction(pool) as conn:
        await enqueue(conn, committed[:10])
    async with transaction(pool) as conn:
        await enqueue(conn, committed[10:])
    relay.wake()

    records = await read_topic(kafka_bootstrap, topic, count=len(committed))
    values = [record.value.decode() for record in records]
    assert sorted(values) == sorted(message.value.decode() for message in committed)
    for key in ("wlt_a", "wlt_b"):
        sent = [m.value.decode() for m in committed if m.key == key]
        assert [r.value.decode() for r in records if r.key == key.encode()] == sent
    assert all(dict(record.headers)["note"] == record.value for record in records)
    await eventually(lambda: _outbox_empty(pool))
    assert _published() - published_before == len(committed)


async def test_a_message_kafka_refuses_for_good_is_parked_not_blocking_the_rest(
    pool: asyncpg.Pool, relay: OutboxRelay, topics: Any, kafka_bootstrap: str
) -> None:
    topic = await topics("parking")
    too_large = OutgoingMessage(topic=topic, key="wlt_a", value=b"msg-" + b"x" * 2_000_000)
    around = [outgoing(topic, "wlt_a", "msg-before"), outgoing(topic, "wlt_a", "msg-after")]
    async with transaction(pool) as conn:
        await enqueue(conn, [around[0], too_large, around[1]])
    relay.wake()

    records = await read_topic(kafka_bootstrap, topic, count=2)
    assert [record.value for record in records] == [b"msg-before", b"msg-after"]
    await eventually(lambda: _outbox_empty(pool))
    parked = await pool.fetch("SELECT key, length(value) AS size, error FROM outbox_parked")
    assert [(row["key"], row["size"]) for row in parked] == [("wlt_a", len(too_large.value))]
    assert "MessageSizeTooLarge" in parked[0]["error"]


def _published() -> float:
    sample = REGISTRY.get_sample_value("wallet_outbox_published_total", {"service": SERVICE})
    return sample or 0.0


async def _outbox_empty(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = 0 FROM outbox"))


async def test_one_relay_leads_and_another_takes_over_when_its_connection_dies(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topics: Any, kafka_bootstrap: str
) -> None:
    topic = await topics("leader")
    first = OutboxRelay(pool=pool, producer=producer, service=SERVICE, leader_poll_s=0.1)
    second = OutboxRelay(pool=pool, producer=producer, service=SERVICE, leader_poll_s=0.1)
    async with first, second:
        await eventually(lambda: _true(first.is_leader or second.is_leader))
        await asyncio.sleep(0.3)
        assert [first.is_leader, second.is_leader].count(True) == 1
        leader, follower = (first, second) if first.is_leader else (second, first)

        # Kill the leader's session from outside: its lock goes with it.
        assert await _kill_the_relay_connection(pool) == 1
        await _enqueue(pool, topic, "wlt_c", [f"after-failover-{i}" for i in range(5)])
        records = await read_topic(kafka_bootstrap, topic, count=5)
        assert [r.value.decode() for r in records] == [f"after-failover-{i}" for i in range(5)]
        assert [leader.is_leader, follower.is_leader].count(True) == 1


class FlakyProducer:
    """The real producer, except that while `away` every delivery fails as when the broker
    cannot be reached."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self.away = True
        self.failed = 0

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        if self.away:
            self.failed += 1
            lost: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            lost.set_exception(KafkaTimeoutError("broker away"))
            return lost
        delivery: asyncio.Future[Any] = await self._producer.send(topic, **record)
        return delivery


async def _enqueue(pool: asyncpg.Pool, topic: str, key: str, values: Sequence[str]) -> None:
    """Messages keyed `key` with these values, queued in one committed transaction."""
    async with transaction(pool) as conn:
        await enqueue(conn, [outgoing(topic, key, value) for value in values])


def _relay_without_idle_polls(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> OutboxRelay:
    """No idle poll within a test: the first pass, then only a wake-up or the stop makes one."""
    return OutboxRelay(pool=pool, producer=producer, service=SERVICE, idle_poll_s=3600)


async def test_relay_keeps_messages_while_kafka_is_away_and_publishes_them_after(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topics: Any, kafka_bootstrap: str
) -> None:
    topic = await topics("flaky-broker")
    flaky = FlakyProducer(producer)
    await _enqueue(pool, topic, "wlt_d", [f"m-{i}" for i in range(3)])
    relay = OutboxRelay(pool=pool, producer=flaky, service=SERVICE)
    async with relay:
        await eventually(lambda: _true(flaky.failed >= 6))
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 3
        flaky.away = False
        records = await read_topic(kafka_bootstrap, topic, count=3)
        await eventually(lambda: _outbox_empty(pool))
    assert [r.value.decode() for r in records] == [f"m-{i}" for i in range(3)]


async def test_published_messages_leave_the_outbox_with_the_next_pass_or_at_stop(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topics: Any, kafka_bootstrap: str
) -> None:
    topic = await topics("deferred-delete")
    await _enqueue(pool, topic, "wlt_e", [f"first-{i}" for i in range(3)])
    published_before = _published()
    relay = _relay_without_idle_polls(pool, producer)
    async with relay:
        await read_topic(kafka_bootstrap, topic, count=3)
        await eventually(lambda: _true(_published() - published_before == 3))
        # On Kafka, still in the outbox: the next pass's read deletes them, and publishes
        # only what came since.
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 3
        await _enqueue(pool, topic, "wlt_e", ["second"])
        relay.wake()
        records = await read_topic(kafka_bootstrap, topic, count=4)
        await eventually(lambda: _true(_published() - published_before == 4))
        assert await pool.fetch("SELECT value FROM outbox") == [(b"second",)]
    assert [r.value.decode() for r in records] == [*(f"first-{i}" for i in range(3)), "second"]
    assert await _outbox_empty(pool)  # the stop deleted what the last pass published


@pytest.mark.parametrize("failover", [False, True], ids=["same-database", "failover"])
async def test_a_relay_that_loses_its_connection_publishes_its_last_pass_again(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
    failover: bool,
) -> None:
    # What a pass published is deleted by the next pass over the same connection only: over a
    # new one it is published again instead. A standby promoted after that pass may lack its
    # rows and hand out their ids again (sequences are not replicated value by value): the ids
    # then name other messages, which the new lead must publish, not delete unpublished.
    topic = await topics("relead")
    first = [f"before-{i}" for i in range(3)]
    await _enqueue(pool, topic, "wlt_f", first)
    published_before = _published()
    relay = _relay_without_idle_polls(pool, producer)
    async with relay:
        await eventually(lambda: _true(_published() - published_before == 3))
        first_ids = [row["id"] for row in await pool.fetch("SELECT id FROM outbox ORDER BY id")]
        assert await _kill_the_relay_connection(pool) == 1
        then = first
        if failover:
            # The promoted standby: the published rows never arrived, and the outbox's
            # sequence stands where it stood before them.
            await pool.execute("DELETE FROM outbox")
            await pool.execute(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'), $1, false)", first_ids[0]
            )
            then = [f"after-{i}" for i in range(3)]
            await _enqueue(pool, topic, "wlt_f", then)
            ids = [row["id"] for row in await pool.fetch("SELECT id FROM outbox ORDER BY id")]
            assert ids == first_ids
        relay.wake()  # the next read finds the connection gone; the relay leads on a new one
        records = await read_topic(kafka_bootstrap, topic, count=6)
        await eventually(lambda: _true(_published() - published_before == 6))
    assert [r.value.decode() for r in records] == [*first, *then]
    assert await _outbox_empty(pool)  # the stop deleted what the new lead published


async def _kill_the_relay_connection(pool: asyncpg.Pool) -> int:
    """Terminates the backend holding a relay's publisher lock; the number terminated."""
    killed: int = await pool.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(l.pid)) FROM pg_locks l"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()"
    )
    return killed


async def _true(value: bool) -> bool:
    return value


# --- (c) batch consumer ----------------------------------------------------------------------


async def produce(producer: AIOKafkaProducer, topic: str, values: Sequence[bytes]) -> None:
    for index, value in enumerate(values):
        await producer.send_and_wait(topic, value=value, key=f"key-{index % 3}".encode())


def batch_consumer(
    kafka_bootstrap: str,
    topic: str,
    group: str,
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    handle: Callable[[Sequence[str]], Awaitable[None]],
    *,
    max_attempts: int = 5,
) -> BatchConsumer[str]:
    return BatchConsumer(
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=group,
        service=SERVICE,
        decode=decode_text,
        handle_batch=handle,
        dead_letters=DeadLetterStore(pool=pool, service=SERVICE, relay=relay),
        max_attempts=max_attempts,
        retry_base_s=0.01,
        retry_cap_s=0.05,
    )


async def test_batch_consumer_commits_and_resumes_after_the_last_commit(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
) -> None:
    topic = await topics("commands")
    group = f"{topic}-group"
    await produce(producer, topic, [f"msg-{i}".encode() for i in range(30)])
    batches: list[list[str]] = []

    async def handle(messages: Sequence[str]) -> None:
        batches.append(list(messages))

    async with batch_consumer(kafka_bootstrap, topic, group, pool, relay, handle):
        await eventually(lambda: _true(sum(map(len, batches)) >= 30))
        await asyncio.sleep(0.3)
    assert sorted(m for batch in batches for m in batch) == sorted(f"msg-{i}" for i in range(30))
    assert max(map(len, batches)) > 1, "messages waiting together are handled together"
    assert await _committed(kafka_bootstrap, group, topic) == 30

    batches.clear()
    await produce(producer, topic, [f"msg-late-{i}".encode() for i in range(5)])
    async with batch_consumer(kafka_bootstrap, topic, group, pool, relay, handle):
        await eventually(lambda: _true(sum(map(len, batches)) >= 5))
        await asyncio.sleep(0.5)
    assert sorted(m for batch in batches for m in batch) == [f"msg-late-{i}" for i in range(5)]
    assert await _committed(kafka_bootstrap, group, topic) == 35


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The sum of the group's committed offsets over the topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


async def test_transient_failures_retry_the_batch_without_dead_letters(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
) -> None:
    topic = await topics("flaky")
    await produce(producer, topic, [f"msg-{i}".encode() for i in range(6)])
    handled: list[str] = []
    failures_left = 3

    async def handle(messages: Sequence[str]) -> None:
        nonlocal failures_left
        if failures_left:
            failures_left -= 1
            raise TransientError("database restarting")
        handled.extend(messages)

    async with batch_consumer(kafka_bootstrap, topic, f"{topic}-g", pool, relay, handle):
        await eventually(lambda: _true(len(handled) >= 6))
    assert sorted(handled) == [f"msg-{i}" for i in range(6)]
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0


# --- (d) dead letters ------------------------------------------------------------------------


async def test_poison_and_undecodable_messages_become_dead_letters(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
) -> None:
    topic = await topics("poisoned")
    await producer.send_and_wait(topic, value=b"msg-0", key=b"k", partition=0)
    await producer.send_and_wait(
        topic, value=b"msg-poison", key=b"k", partition=0, headers=[("transfer_id", b"trf_1")]
    )
    await producer.send_and_wait(topic, value=b"garbage", key=b"k", partition=0)
    for i in range(1, 4):
        await producer.send_and_wait(topic, value=f"msg-{i}".encode(), key=b"k", partition=0)
    handled: list[str] = []
    calls_with_poison = 0

    async def handle(messages: Sequence[str]) -> None:
        nonlocal calls_with_poison
        if "msg-poison" in messages:
            calls_with_poison += 1
            raise ValueError("cannot book this")
        handled.extend(messages)

    async with batch_consumer(
        kafka_bootstrap, topic, f"{topic}-g", pool, relay, handle, max_attempts=3
    ):
        await eventually(lambda: _true(len(handled) >= 4))
        await eventually(lambda: _dead_letter_count(pool, 2))

    assert sorted(handled) == ["msg-0", "msg-1", "msg-2", "msg-3"]
    letters = await pool.fetch(
        'SELECT service, topic, partition, "offset", value, error, attempts, headers'
        ' FROM dead_letters ORDER BY "offset"'
    )
    assert [(r["partition"], r["offset"], r["value"], r["attempts"]) for r in letters] == [
        (0, 1, b"msg-poison", 3),
        (0, 2, b"garbage", 1),
    ]
    assert "cannot book this" in letters[0]["error"]
    assert letters[1]["error"].startswith("undecodable")
    assert letters[0]["headers"] == {"transfer_id": "trf_1"}

    # The undecodable record was refused on sight, before the poison exhausted its attempts.
    dlq = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=2)
    assert [record.value for record in dlq] == [b"garbage", b"msg-poison"]
    headers = dict(dlq[1].headers)
    assert headers["attempts"] == b"3"
    assert headers["origin_topic"] == topic.encode()
    assert headers["origin_partition"] == b"0"
    assert headers["origin_offset"] == b"1"
    assert b"cannot book this" in headers["error"]
    assert headers["transfer_id"] == b"trf_1"
    assert dict(dlq[0].headers)["attempts"] == b"1"
    assert dict(dlq[0].headers)["origin_offset"] == b"2"
    assert await _committed(kafka_bootstrap, f"{topic}-g", topic) == 6


class DeadLettersFailingOnce(DeadLetterStore):
    """A store whose first `add` fails with an error no retry policy knows about."""

    failed = False

    async def add(self, record: ConsumedRecord, *, error: str, attempts: int) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("dead letters unavailable")
        await super().add(record, error=error, attempts=attempts)


async def test_a_batch_that_fails_unexpectedly_is_rewound_not_skipped(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
) -> None:
    topic = await topics("rewound")
    for value in (b"msg-0", b"garbage", b"msg-1"):
        await producer.send_and_wait(topic, value=value, key=b"k", partition=0)
    handled: list[str] = []

    async def handle(messages: Sequence[str]) -> None:
        handled.extend(messages)

    store = DeadLettersFailingOnce(pool=pool, service=SERVICE, relay=relay)
    consumer: BatchConsumer[str] = BatchConsumer(
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=f"{topic}-g",
        service=SERVICE,
        decode=decode_text,
        handle_batch=handle,
        dead_letters=store,
        retry_base_s=0.01,
    )
    async with consumer:
        await eventually(lambda: _true(len(handled) >= 2))
        await eventually(lambda: _dead_letter_count(pool, 1))
    assert store.failed
    assert handled == ["msg-0", "msg-1"]
    assert await _committed(kafka_bootstrap, f"{topic}-g", topic) == 3


async def _dead_letter_count(pool: asyncpg.Pool, count: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = $1 FROM dead_letters", count))


async def test_a_replayed_dead_letter_goes_back_to_its_topic(
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    producer: AIOKafkaProducer,
    topics: Any,
    kafka_bootstrap: str,
) -> None:
    topic = await topics("replayed")
    await producer.send_and_wait(topic, value=b"not-yet", key=b"k", partition=1)
    store = DeadLetterStore(pool=pool, service=SERVICE, relay=relay)

    async def refuse(messages: Sequence[str]) -> None:
        raise ValueError("refused")

    def decode_any(value: bytes | None) -> str:
        return (value or b"").decode()

    consumer: BatchConsumer[str] = BatchConsumer(
        bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=f"{topic}-g",
        service=SERVICE,
        decode=decode_any,
        handle_batch=refuse,
        dead_letters=store,
        max_attempts=1,
    )
    async with consumer:
        await eventually(lambda: _dead_letter_count(pool, 1))
    [letter] = await store.page()
    assert letter.replayed_at is None
    replayed = await store.replay(letter.id)
    assert replayed.replayed_at is not None
    records = await read_topic(kafka_bootstrap, topic, count=2)
    assert [r.value for r in records] == [b"not-yet", b"not-yet"]
    replays = [r for r in records if "replayed_dead_letter" in dict(r.headers)]
    assert [dict(r.headers)["replayed_dead_letter"] for r in replays] == [str(letter.id).encode()]


# --- (e) idempotency keys --------------------------------------------------------------------


@pytest.fixture
async def deposits(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute(
        "CREATE TABLE deposit (id serial PRIMARY KEY, amount bigint NOT NULL CHECK (amount > 0))"
    )
    return pool


def deposit_of(conn: asyncpg.Connection, amount: int) -> Callable[[], Awaitable[tuple[int, Any]]]:
    async def operation() -> tuple[int, Any]:
        deposit_id = await conn.fetchval(
            "INSERT INTO deposit (amount) VALUES ($1) RETURNING id", amount
        )
        if amount > 1000:
            raise InsufficientFunds("Not enough money in the wallet.")
        return 201, {"id": deposit_id, "amount": str(amount)}

    return operation


async def idempotent_deposit(
    pool: asyncpg.Pool, *, key: str, amount: int, caller: str = "usr_1"
) -> StoredResponse:
    fingerprint = request_fingerprint("POST", "/v1/deposits", {"amount": str(amount)})
    async with transaction(pool) as conn:
        return await run_idempotent(
            conn,
            caller=caller,
            key=key,
            fingerprint=fingerprint,
            operation=deposit_of(conn, amount),
        )


async def test_same_key_same_request_replays_without_a_second_movement(
    deposits: asyncpg.Pool,
) -> None:
    first = await idempotent_deposit(deposits, key="k-1", amount=500)
    again = await idempotent_deposit(deposits, key="k-1", amount=500)
    assert (first.status_code, first.replayed) == (201, False)
    assert (again.status_code, again.body, again.replayed) == (201, first.body, True)
    assert orjson.loads(first.body)["amount"] == "500"
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 1
    other_caller = await idempotent_deposit(deposits, key="k-1", amount=500, caller="usr_2")
    assert not other_caller.replayed
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 2


async def test_same_key_other_request_is_refused(deposits: asyncpg.Pool) -> None:
    await idempotent_deposit(deposits, key="k-2", amount=500)
    with pytest.raises(IdempotencyKeyReused):
        await idempotent_deposit(deposits, key="k-2", amount=501)
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 1


async def test_same_key_while_the_first_is_running_is_in_use(deposits: asyncpg.Pool) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def slow_first() -> StoredResponse:
        async with transaction(deposits) as conn:
            book = deposit_of(conn, 700)

            async def operation() -> tuple[int, Any]:
                inside.set()
                await release.wait()
                return await book()

            return await run_idempotent(
                conn,
                caller="usr_1",
                key="k-3",
                fingerprint=request_fingerprint("POST", "/v1/deposits", {"amount": "700"}),
                operation=operation,
            )

    first = asyncio.create_task(slow_first())
    await inside.wait()
    with pytest.raises(IdempotencyKeyInUse):
        await idempotent_deposit(deposits, key="k-3", amount=700)
    release.set()
    assert not (await first).replayed
    assert (await idempotent_deposit(deposits, key="k-3", amount=700)).replayed
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 1


async def test_a_business_refusal_is_stored_and_its_writes_undone(deposits: asyncpg.Pool) -> None:
    refused = await idempotent_deposit(deposits, key="k-4", amount=5000)
    assert (refused.status_code, refused.replayed) == (422, False)
    assert orjson.loads(refused.body)["code"] == "insufficient_funds"
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 0
    again = await idempotent_deposit(deposits, key="k-4", amount=5000)
    assert (again.status_code, again.body, again.replayed) == (422, refused.body, True)


async def test_a_rolled_back_request_leaves_the_key_free(deposits: asyncpg.Pool) -> None:
    fingerprint = request_fingerprint("POST", "/v1/deposits", {"amount": "10"})

    async def deposit(conn: asyncpg.Connection) -> None:
        await run_idempotent(
            conn, caller="usr_1", key="k-5", fingerprint=fingerprint, operation=deposit_of(conn, 10)
        )

    with pytest.raises(RuntimeError):
        await fail_inside_transaction(deposits, RuntimeError("the client went away"), deposit)
    retried = await idempotent_deposit(deposits, key="k-5", amount=10)
    assert not retried.replayed
    assert await deposits.fetchval("SELECT count(*) FROM deposit") == 1


async def test_a_batch_answers_each_key_as_one_request_at_a_time_would(
    deposits: asyncpg.Pool,
) -> None:
    await idempotent_deposit(deposits, key="stored", amount=5)

    @dataclass(frozen=True)
    class Asked:
        caller: str
        key: str
        amount: int

        @property
        def fingerprint(self) -> str:
            return request_fingerprint("POST", "/v1/deposits", {"amount": str(self.amount)})

    batch = [
        Asked("usr_1", "a", 10),  # booked
        Asked("usr_1", "a", 10),  # the same request again in the batch: its answer, replayed
        Asked("usr_1", "a", 11),  # the same key for another request: refused, not stored
        Asked("usr_1", "stored", 5),  # answered before the batch: replayed
        Asked("usr_1", "busy", 20),  # held by another transaction: in use, not stored
        Asked("usr_1", "down", 30),  # refused with "retry later": not stored...
        Asked("usr_1", "down", 30),  # ...and its repeat in the batch told the same
        Asked("usr_1", "poor", 5000),  # a business refusal: stored
    ]
    prepared: list[list[int]] = []
    async with deposits.acquire() as holder, holder.transaction():
        await holder.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", "usr_1", "busy"
        )
        async with transaction(deposits) as conn:

            async def operation(position: int) -> tuple[int, Any]:
                # Refusals first, before any write (there is no savepoint to undo them).
                if batch[position].key == "down":
                    raise ServiceUnavailable("The ledger is unavailable; retry.")
                if batch[position].amount > 1000:
                    raise InsufficientFunds("Not enough money in the wallet.")
                return await deposit_of(conn, batch[position].amount)()

            async def prepare(positions: list[int]) -> None:
                prepared.append(positions)

            outcomes = await run_idempotent_batch(conn, batch, operation, prepare=prepare)

    assert prepared == [[0, 5, 7]]  # the first request of each key that will run
    booked, again, other, stored, busy, down, down_again, poor = outcomes
    assert isinstance(booked, StoredResponse)
    assert (booked.status_code, booked.replayed) == (201, False)
    assert again == StoredResponse(201, booked.body, replayed=True)
    assert isinstance(other, IdempotencyKeyReused)
    assert isinstance(stored, StoredResponse)
    assert stored.replayed
    assert isinstance(busy, IdempotencyKeyInUse)
    assert isinstance(down, ServiceUnavailable)
    assert down_again is down
    assert isinstance(poor, StoredResponse)
    assert (poor.status_code, orjson.loads(poor.body)["code"]) == (422, "insufficient_funds")
    keys = await deposits.fetch("SELECT key FROM idempotency_keys ORDER BY key")
    assert [row["key"] for row in keys] == ["a", "poor", "stored"]
    amounts = await deposits.fetch("SELECT amount FROM deposit ORDER BY id")
    assert [row["amount"] for row in amounts] == [5, 10]


async def test_a_batch_booked_in_memory_writes_with_its_answers(deposits: asyncpg.Pool) -> None:
    """Operations that book in memory leave their writes to `writes`, called once all of them
    ran: those go in the statement that stores the answers, and fail with it."""

    @dataclass(frozen=True)
    class Asked:
        caller: str
        key: str
        amount: int
        fingerprint: str = "f"

    async def book(batch: list[Asked]) -> list[StoredResponse | Exception]:
        booked: list[int] = []
        calls: list[list[int]] = []

        async def operation(position: int) -> tuple[int, Any]:
            booked.append(batch[position].amount)
            return 201, {"amount": batch[position].amount}

        def writes() -> list[Write]:
            calls.append(list(booked))
            insert = "INSERT INTO deposit (amount) SELECT unnest($1::bigint[])"
            return [Write(insert, (list(booked),))]

        async with transaction(deposits) as conn:
            outcomes = await run_idempotent_batch(conn, batch, operation, writes=writes)
        assert calls == [[asked.amount for asked in batch]]
        return list(outcomes)

    outcomes = await book([Asked("usr_2", "w1", 10), Asked("usr_2", "w2", 20)])
    assert [o.status_code for o in outcomes if isinstance(o, StoredResponse)] == [201, 201]
    with pytest.raises(asyncpg.CheckViolationError):  # a write refused: no answer stored
        await book([Asked("usr_2", "w3", 30), Asked("usr_2", "w4", 0)])
    keys = await deposits.fetch("SELECT key FROM idempotency_keys ORDER BY key")
    assert [row["key"] for row in keys] == ["w1", "w2"]
    amounts = await deposits.fetch("SELECT amount FROM deposit ORDER BY id")
    assert [row["amount"] for row in amounts] == [10, 20]


# --- readiness -------------------------------------------------------------------------------


async def test_readiness_and_topic_setup_are_idempotent(
    producer: AIOKafkaProducer, kafka_bootstrap: str, topics: Any
) -> None:
    topic = await topics("ready")
    await ensure_topics(kafka_bootstrap, [topic, topic], partitions=2)
    assert await kafka_ready(producer)
    assert await producer.partitions_for(topic) == {0, 1}
