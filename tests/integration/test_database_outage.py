"""A database that goes away under a running service is a 503 with Retry-After, never a 500:
a shard's and the coordinator's routes, on a PostgreSQL server of this test alone, stopped and
started again while they serve; and to a consumer's work, in a transaction or outside one, a
`TransientError` (its batch is retried, not dead-lettered)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from transfer_coordinator.bootstrap import MIGRATIONS as COORDINATOR_MIGRATIONS
from transfer_coordinator.bootstrap import create_app as create_coordinator_app
from transfer_coordinator.service_layer.context import CoordinatorContext, unit_of_work
from transfer_coordinator.settings import CoordinatorSettings
from wallet_devtools.postgres import PostgresServer, create_database
from wallet_devtools.processes import free_port
from wallet_shard.bootstrap import MIGRATIONS as SHARD_MIGRATIONS
from wallet_shard.bootstrap import create_app as create_shard_app
from wallet_shard.bootstrap import shard_context
from wallet_shard.entrypoints.dependencies import ShardServices
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.settings import ShardSettings
from wallet_shared.contracts.errors import TransientError
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.db import apply_migrations, connection, create_pool, transaction

from tests.integration.wallet_shard.conftest import RelayWakes, users_of_shard
from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential

RECOVERY_LIMIT_S = 120.0


@pytest.fixture
async def own_server() -> AsyncIterator[PostgresServer]:
    """A PostgreSQL server of this test alone (it is stopped mid-test), on a fixed port."""
    base_dir = Path(tempfile.mkdtemp(prefix="wallet-test-outage-"))
    server = PostgresServer(base_dir=base_dir, port=free_port(), durable=False)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


async def migrated_pool(server: PostgresServer, name: str, migrations: str) -> asyncpg.Pool:
    dsn = await create_database(server.dsn, name)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    await apply_migrations(pool, package=migrations)
    return pool


async def answers_during_outage(
    server: PostgresServer, call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """What `call` answers while the server is down; then waits for it to answer 200 again."""
    await server.stop()
    try:
        during = await call()
    finally:
        await server.start()
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + RECOVERY_LIMIT_S
    while (after := await call()).status_code != 200:
        assert after.status_code == 503, after.text
        assert loop.time() < give_up_at, "the service did not recover"
        await asyncio.sleep(0.1)
    return during


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "service_unavailable"
    assert response.headers["retry-after"]


async def test_a_shard_answers_503_while_its_database_is_away(own_server: PostgresServer) -> None:
    pool = await migrated_pool(own_server, "outage_shard", SHARD_MIGRATIONS)
    settings = ShardSettings(
        shard_id=0, shard_count=2, topic_prefix="to.", internal_secret=TEST_INTERNAL_SECRET
    )
    app = create_shard_app(settings)
    uow = UnitOfWork(pool=pool, relay=RelayWakes())
    app.state.shard_services = ShardServices(uow=uow, shard=shard_context(settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shard", auth=ServiceCredential()
        ) as client:
            created = await client.post(
                "/internal/wallets", json={"user_id": users_of_shard(0)[0], "currency": "USD"}
            )
            assert created.status_code == 201, created.text
            wallet = f"/internal/wallets/{created.json()['id']}"

            assert_unavailable(await answers_during_outage(own_server, lambda: client.get(wallet)))

            async def deposit() -> httpx.Response:
                response = await client.post(
                    f"{wallet}/deposits", json={"amount": 5}, headers={"Idempotency-Key": "d1"}
                )
                # Once booked, the same key answers the booking again (a replay is 201 too).
                return httpx.Response(200) if response.status_code == 201 else response

            assert_unavailable(await answers_during_outage(own_server, deposit))
            assert (await client.get(wallet)).json()["balance"] == "5"
    finally:
        await pool.close()


async def test_the_coordinator_answers_503_while_its_database_is_away(
    own_server: PostgresServer,
) -> None:
    pool = await migrated_pool(own_server, "outage_coordinator", COORDINATOR_MIGRATIONS)
    settings = CoordinatorSettings(
        shard_count=2, topic_prefix="to.", internal_secret=TEST_INTERNAL_SECRET
    )
    app = create_coordinator_app(settings)
    app.state.coordinator = CoordinatorContext(
        pool=pool,
        shards=ShardMap.even(2),
        topics=Topics(prefix="to."),
        transfer_deadline=timedelta(seconds=30),
        redrive_after=timedelta(seconds=5),
        max_amount=10**15,
        uow=unit_of_work(pool, RelayWakes()),
    )
    transport = httpx.ASGITransport(app=app)
    transfer = f"/internal/transfers/{new_transfer_id()}"

    async def read_transfer() -> httpx.Response:
        response = await client.get(transfer)
        # Unknown transfer: 404 is the healthy answer here.
        return httpx.Response(200) if response.status_code == 404 else response

    async def claim_key() -> httpx.Response:
        # Claims commit statement by statement, outside a transaction: an outage there too.
        claim = {"caller": "alice", "key": "k-outage", "fingerprint": "f1"}
        return await client.post("/internal/idempotency-claims", json={"claims": [claim]})

    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://coordinator", auth=ServiceCredential()
        ) as client:
            assert (await client.get(transfer)).status_code == 404
            assert_unavailable(await answers_during_outage(own_server, read_transfer))
            assert_unavailable(await answers_during_outage(own_server, claim_key))
            assert (await claim_key()).json() == {"results": ["claimed"]}
    finally:
        await pool.close()


async def test_work_outside_a_transaction_sorts_an_outage_as_transient(
    own_server: PostgresServer,
) -> None:
    """The public-event consumer writes a batch without movements outside a transaction: a
    database away must reach it as `TransientError` there too, or the consumer would take the
    batch for a poison message and dead-letter its webhook deliveries."""
    pool = await create_pool(await create_database(own_server.dsn, "outage_outside"), max_size=2)
    try:
        async with connection(pool) as conn:
            assert await conn.fetchval("SELECT 1") == 1
        await own_server.stop()
        try:
            with pytest.raises(TransientError):
                async with connection(pool) as conn:
                    await conn.fetchval("SELECT 1")
            with pytest.raises(TransientError):
                async with transaction(pool) as conn:
                    await conn.fetchval("SELECT 1")
        finally:
            await own_server.start()
    finally:
        await pool.close()
