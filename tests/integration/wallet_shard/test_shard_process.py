"""`python -m wallet_shard` as a real process against real PostgreSQL and Kafka: it creates its
topics, applies its migrations, serves its routes, answers TCC commands on the reply topic,
publishes its events, dead-letters what it cannot read, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from wallet_devtools.processes import free_port, log_tail, spawn, stop_process
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.messages import (
    ConfirmCredit,
    ConfirmDebit,
    LegCommand,
    TransferMessage,
    TryCredit,
    TryDebit,
    decode_transfer_message,
    encode_transfer_message,
)
from wallet_shared.contracts.topics import Topics

from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential

from .conftest import users_of_shard

ALICE, BOB = users_of_shard(0)[:2]


@pytest.fixture
async def shard_url(
    database_dsn: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WALLET_")},
        "WALLET_SHARD_ID": "0",
        "WALLET_SHARD_COUNT": "2",
        "WALLET_SHARD_PORT": str(port),
        "WALLET_DATABASE_URL": database_dsn,
        "WALLET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WALLET_TOPIC_PREFIX": topic_prefix,
        "WALLET_TOPIC_PARTITIONS": "2",
        "WALLET_LOG_FORMAT": "console",
        "WALLET_INTERNAL_SECRET": TEST_INTERNAL_SECRET,
    }
    log = tmp_path / "shard.log"
    process = spawn([sys.executable, "-m", "wallet_shard"], log_path=log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, process.poll, log)
        yield url
    finally:
        await stop_process(process, grace_s=20.0)
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully.
    assert process.returncode in (0, -signal.SIGTERM), log_tail(log)
    assert "Traceback" not in log.read_text(), log_tail(log)
    assert "shard_stopped" in log.read_text(), log_tail(log)


async def _wait_ready(url: str, exited: Callable[[], int | None], log: Path) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(600):
            if exited() is not None:
                pytest.fail(f"the shard exited:\n{log_tail(log)}")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"the shard never became ready:\n{log_tail(log)}")


async def _records(consumer: AIOKafkaConsumer, count: int, timeout_s: float = 30.0) -> list[Any]:
    records: list[Any] = []
    async with asyncio.timeout(timeout_s):
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=200)
            records += [record for part in batch.values() for record in part]
    return records


async def test_the_shard_process_answers_http_and_transfer_commands(
    shard_url: str, kafka_bootstrap: str, topic_prefix: str, database_dsn: str
) -> None:
    topics = Topics(prefix=topic_prefix)
    replies = AIOKafkaConsumer(
        topics.transfer_replies,
        topics.events,
        topics.dead_letters(topics.shard_commands(0)),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{topic_prefix}probe",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await replies.start()
    await producer.start()
    try:
        async with httpx.AsyncClient(base_url=shard_url, auth=ServiceCredential()) as client:
            anonymous = await client.post("/internal/wallets", json={}, auth=httpx.Auth())
            assert anonymous.status_code == 401, anonymous.text
            source, destination = await _open(client, ALICE), await _open(client, BOB)
            deposit = await client.post(
                f"/internal/wallets/{source}/deposits",
                json={"amount": 1000},
                headers={"Idempotency-Key": "k"},
            )
            assert deposit.status_code == 201
            transfer = new_transfer_id()

            async def send(*commands: LegCommand) -> None:
                for command in commands:
                    record = encode_transfer_message(
                        command, topic=topics.shard_commands(0), key=command.wallet_id
                    )
                    await producer.send_and_wait(
                        record.topic,
                        record.value,
                        key=record.key.encode(),
                        headers=record.kafka_headers(),
                    )

            def leg(kind: type[LegCommand], wallet_id: str) -> LegCommand:
                return kind(transfer_id=transfer, wallet_id=wallet_id, amount=400, currency="USD")

            await send(leg(TryDebit, source), leg(TryCredit, destination))
            await send(leg(ConfirmDebit, source), leg(ConfirmCredit, destination))
            await producer.send_and_wait(topics.shard_commands(0), b"not a message", key=b"x")
            # 2 wallet.created + 1 deposit + 4 replies + 2 transfer bookings + 1 dead letter
            records = await _records(replies, 10)
            got = [r for r in records if r.topic == topics.transfer_replies]
            messages: list[TransferMessage] = [decode_transfer_message(r.value) for r in got]
            assert sorted(m.message_type for m in messages) == [
                "CreditConfirmed",
                "CreditTried",
                "DebitConfirmed",
                "DebitTried",
            ]
            assert all(getattr(m, "ok", True) for m in messages)
            events = [
                orjson.loads(r.value)["event_type"] for r in records if r.topic == topics.events
            ]
            assert sorted(events) == ["transaction.posted"] * 3 + ["wallet.created"] * 2
            assert any(r.topic.endswith(".dlq") for r in records)

            balances = [
                (await client.get(f"/internal/wallets/{w}")).json()["balance"]
                for w in (source, destination)
            ]
            assert balances == ["600", "400"]
            report = (await client.get("/internal/integrity")).json()
            assert report["problems"] == []
            assert (await client.get("/metrics")).text.count("wallet_ledger_postings_total{") >= 2
    finally:
        await producer.stop()
        await replies.stop()
    connection = await asyncpg.connect(database_dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM dead_letters") == 1
    finally:
        await connection.close()


async def _open(client: httpx.AsyncClient, user: str) -> str:
    response = await client.post("/internal/wallets", json={"user_id": user, "currency": "USD"})
    assert response.status_code == 201, response.text
    wallet_id: str = response.json()["id"]
    return wallet_id
