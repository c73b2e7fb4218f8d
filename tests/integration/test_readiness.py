"""`/health/ready` is honest: a shard and the coordinator, each run in process with its whole
lifespan on real PostgreSQL and Kafka, are ready only once every loop runs, and a loop whose task
dies turns readiness to 503 with the loop's name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from transfer_coordinator.bootstrap import create_app as create_coordinator_app
from transfer_coordinator.settings import CoordinatorSettings
from wallet_shard.bootstrap import create_app as create_shard_app
from wallet_shard.settings import ShardSettings

from tests.service_credentials import TEST_INTERNAL_SECRET

AppFactory = Callable[[str, str, str], FastAPI]


def shard_app(dsn: str, bootstrap: str, prefix: str) -> FastAPI:
    settings = ShardSettings(
        shard_id=0,
        shard_count=2,
        database_url=dsn,
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        topic_partitions=2,
        internal_secret=TEST_INTERNAL_SECRET,
    )
    return create_shard_app(settings)


def coordinator_app(dsn: str, bootstrap: str, prefix: str) -> FastAPI:
    settings = CoordinatorSettings(
        shard_count=2,
        database_url=dsn,
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        topic_partitions=2,
        internal_secret=TEST_INTERNAL_SECRET,
    )
    return create_coordinator_app(settings)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started (every background loop running), and a client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


def kill_task(name: str) -> None:
    """Cancel the running asyncio task called `name`, as a crash of that loop would end it."""
    tasks = [task for task in asyncio.all_tasks() if task.get_name() == name]
    assert tasks, f"no task called {name}"
    for task in tasks:
        task.cancel()


async def readiness_after_kill(client: httpx.AsyncClient, loop: str) -> httpx.Response:
    kill_task(loop)
    for _ in range(200):  # the cancelled task ends at its next await
        response = await client.get("/health/ready")
        if response.status_code != 200:
            return response
        await asyncio.sleep(0.01)
    return response


@pytest.mark.parametrize(
    ("factory", "loops"),
    [
        (
            shard_app,
            ["outbox_relay", "retention_janitor", "consumer:{prefix}wallet.shard-0.commands"],
        ),
        (
            coordinator_app,
            [
                "outbox_relay",
                "retention_janitor",
                "consumer:{prefix}wallet.transfer-replies",
                "saga_sweeper",
                "final_status_listener",
                "consumer:{prefix}wallet.events.v1",
                "webhook_dispatcher",
            ],
        ),
    ],
    ids=["shard", "coordinator"],
)
async def test_readiness_names_every_loop_and_a_dead_one_makes_it_503(
    factory: AppFactory,
    loops: list[str],
    database_dsn: str,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    names = [loop.format(prefix=topic_prefix) for loop in loops]
    for dead in names:
        app = factory(database_dsn, kafka_bootstrap, topic_prefix)
        up, down = await _ready_while(app, dead)
        assert up.status_code == 200, up.text
        assert up.json()["checks"] == dict.fromkeys(["database", "kafka", *names], "ok")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert down.json()["checks"][dead] == "down"
        assert all(down.json()["checks"][name] == "ok" for name in names if name != dead)


async def _ready_while(app: FastAPI, loop: str) -> tuple[httpx.Response, httpx.Response]:
    async with running(app) as client:
        up = await client.get("/health/ready")
        down = await readiness_after_kill(client, loop)
    return up, down


async def test_before_its_lifespan_has_started_a_service_is_not_ready(
    database_dsn: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    app = shard_app(database_dsn, kafka_bootstrap, topic_prefix)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
