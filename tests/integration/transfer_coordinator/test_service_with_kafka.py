"""The whole coordinator (its app and lifespan: topics, migrations, outbox relay, reply consumer,
sweeper, LISTEN) on a real PostgreSQL and a real Kafka broker, with fake shards that answer the
commands over Kafka as the TCC rules say."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from transfer_coordinator.bootstrap import create_app
from transfer_coordinator.settings import CoordinatorSettings
from wallet_shared.contracts.messages import (
    LegCommand,
    Step,
    TryDebit,
    decode_transfer_message,
    encode_transfer_message,
    reply_to,
)
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.kafka import start_producer

from tests.integration.transfer_coordinator.harness import wallet_on_shard
from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential, internal_headers

POOR = wallet_on_shard(0)
RICH = wallet_on_shard(0)
FRIEND = wallet_on_shard(1)


@dataclass
class FakeShards:
    """Both shards' command consumers: Try succeeds except for wallets in `refusing`."""

    bootstrap: str
    topics: Topics
    refusing: set[str] = field(default_factory=set)
    answering: asyncio.Event = field(default_factory=asyncio.Event)
    handled: list[LegCommand] = field(default_factory=list)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topics.shard_commands(0),
            self.topics.shard_commands(1),
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.topics.prefix}fake-shards",
            auto_offset_reset="earliest",
        )
        producer = await start_producer(self.bootstrap, client_id="fake-shards")
        await consumer.start()
        try:
            while True:
                await self.answering.wait()
                fetched = await consumer.getmany(timeout_ms=100)
                for record in (r for records in fetched.values() for r in records):
                    command = decode_transfer_message(record.value)
                    assert isinstance(command, LegCommand)
                    self.handled.append(command)
                    reply = self._reply(command)
                    out = encode_transfer_message(
                        reply, topic=self.topics.transfer_replies, key=command.transfer_id
                    )
                    await producer.send(out.topic, out.value, key=out.key.encode())
        finally:
            await consumer.stop()
            await producer.stop()

    def _reply(self, command: LegCommand) -> Any:
        if command.step is not Step.TRY:
            return reply_to(command)
        if command.wallet_id in self.refusing:
            return reply_to(command, ok=False, failure_code="insufficient_funds")
        return reply_to(command, ok=True)


@pytest.fixture
async def settings(
    database_dsn: str, kafka_bootstrap: str, topic_prefix: str
) -> CoordinatorSettings:
    return CoordinatorSettings(
        database_url=database_dsn,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        topic_partitions=2,
        redrive_after_s=1.0,
        sweep_interval_s=0.2,
        transfer_deadline_s=30.0,
        internal_secret=TEST_INTERNAL_SECRET,
    )


@pytest.fixture
async def shards(settings: CoordinatorSettings) -> AsyncIterator[FakeShards]:
    fake = FakeShards(settings.kafka_bootstrap, settings.topics(), refusing={POOR})
    fake.answering.set()
    task = asyncio.create_task(fake.run())
    yield fake
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app.state.pool


@contextlib.asynccontextmanager
async def running(settings: CoordinatorSettings) -> AsyncIterator[Service]:
    """The coordinator app with its lifespan, and an HTTP client on it."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://coordinator", auth=ServiceCredential()
        ) as http:
            yield Service(app, http)


def transfer(source: str, destination: str, amount: int = 100) -> dict[str, Any]:
    return {
        "source_wallet_id": source,
        "destination_wallet_id": destination,
        "amount": amount,
        "currency": "USD",
    }


async def post(service: Service, key: str, body: dict[str, Any], wait: float) -> httpx.Response:
    return await service.http.post(
        f"/internal/transfers?wait={wait}",
        json=body,
        headers={"Idempotency-Key": key, **internal_headers("alice", "user", "alice")},
    )


async def test_transfers_complete_or_cancel_over_kafka(
    settings: CoordinatorSettings, shards: FakeShards
) -> None:
    async with running(settings) as service:
        ready = await service.http.get("/health/ready")
        consumers = [
            f"consumer:{settings.topic_prefix}wallet.{topic}"
            for topic in ("transfer-replies", "events.v1")
        ]
        loops = ["outbox_relay", "retention_janitor", "final_status_listener", "saga_sweeper"]
        loops += [*consumers, "webhook_dispatcher"]
        checks = dict.fromkeys(["database", "kafka", *loops], "ok")
        assert ready.json() == {"status": "ok", "checks": checks}
        answers = await asyncio.gather(
            *(post(service, f"k{n}", transfer(RICH, FRIEND, 100 + n), 20) for n in range(20)),
            post(service, "poor", transfer(POOR, FRIEND), wait=20),
        )
        *completed, refused = answers

        assert {(a.status_code, a.json()["status"]) for a in completed} == {(200, "completed")}
        assert (refused.status_code, refused.json()["status"]) == (200, "cancelled")
        assert refused.json()["failure_code"] == "insufficient_funds"
        events = await read_events(settings, expected=21)
        assert sorted(e["event_type"] for e in events).count("transfer.completed") == 20
        metrics = (await service.http.get("/metrics")).text
        assert 'wallet_transfers_total{failure_code="none",status="completed"}' in metrics


async def test_a_command_on_the_reply_topic_is_dead_lettered(
    settings: CoordinatorSettings, shards: FakeShards
) -> None:
    async with running(settings) as service:
        producer = await start_producer(settings.kafka_bootstrap, client_id="stray")
        stray = TryDebit(transfer_id="trf_" + "0" * 32, wallet_id=RICH, amount=1, currency="USD")
        record = encode_transfer_message(
            stray, topic=settings.topics().transfer_replies, key=stray.transfer_id
        )
        await producer.send_and_wait(record.topic, record.value, key=record.key.encode())
        await producer.stop()
        # The consumer keeps going: a transfer after the stray record still completes.
        answer = await post(service, "after", transfer(RICH, FRIEND), wait=20)
        assert answer.json()["status"] == "completed"
        letters = await service.pool.fetch("SELECT topic, error FROM dead_letters")
        assert [row["topic"] for row in letters] == [settings.topics().transfer_replies]
        assert "not a reply" in letters[0]["error"]


async def test_a_saga_resumes_after_a_restart(
    settings: CoordinatorSettings, shards: FakeShards
) -> None:
    shards.answering.clear()
    async with running(settings) as service:
        pending = (await post(service, "k", transfer(RICH, FRIEND), wait=0)).json()
        assert pending["status"] == "pending"
        for _ in range(100):  # until the relay has published the Tries
            if not await service.pool.fetchval("SELECT count(*) FROM outbox"):
                break
            await asyncio.sleep(0.05)
    shards.answering.set()
    await asyncio.sleep(1.0)  # the replies wait on Kafka while the coordinator is down

    async with running(settings) as service:
        for _ in range(200):
            found = (await service.http.get(f"/internal/transfers/{pending['id']}")).json()
            if found["status"] != "pending":
                break
            await asyncio.sleep(0.05)
    assert found["status"] == "completed"


async def read_events(settings: CoordinatorSettings, *, expected: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        settings.topics().events,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}event-reader",
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(20):
            while len(events) < expected:
                fetched = await consumer.getmany(timeout_ms=200)
                events += [orjson.loads(r.value) for rs in fetched.values() for r in rs]
    finally:
        await consumer.stop()
    return events
