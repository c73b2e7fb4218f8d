"""Session-wide infrastructure: one PostgreSQL server and one Kafka broker per test session.

Where they come from, first match wins:
1. `WALLET_TEST_PG_DSN` (a superuser DSN) / `WALLET_TEST_KAFKA_BOOTSTRAP` (`host:port`);
2. testcontainers, when a Docker engine answers `docker info`;
3. wallet_devtools: a throwaway PostgreSQL cluster (in a temporary folder, removed at the end;
   its log is copied to pytest's base folder) and a KRaft broker under pytest's base folder
   (what CI and the development machines use).

They start lazily: a unit-test run that requests neither starts nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from wallet_devtools.kafka import KafkaBroker, delete_topics_with_prefix, install_kafka
from wallet_devtools.postgres import (
    PostgresServer,
    create_database,
    drop_database,
    random_database_name,
)

PG_DSN_ENV = "WALLET_TEST_PG_DSN"
KAFKA_BOOTSTRAP_ENV = "WALLET_TEST_KAFKA_BOOTSTRAP"
POSTGRES_IMAGE = "postgres:15"
# Confluent Platform 7.9 ships Apache Kafka 3.9, the broker line the local path runs.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
_TEST_PG_SETTINGS = "-c max_connections=300 -c fsync=off -c synchronous_commit=off"


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def docker_available() -> bool:
    """Whether a Docker engine is reachable (then testcontainers provides the servers)."""
    return _docker_engine_answers()


@contextlib.contextmanager
def _postgres_container() -> Iterator[str]:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    ).with_command(f"postgres {_TEST_PG_SETTINGS}")
    with container:
        yield container.get_connection_url()


@contextlib.contextmanager
def _kafka_container() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    container = (
        KafkaContainer(KAFKA_IMAGE)
        .with_kraft()
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    with container:
        yield container.get_bootstrap_server()


@pytest_asyncio.fixture(scope="session")
async def pg_server_dsn(
    tmp_path_factory: pytest.TempPathFactory, docker_available: bool
) -> AsyncIterator[str]:
    """Superuser DSN of the session's PostgreSQL server (database `postgres`)."""
    if dsn := os.environ.get(PG_DSN_ENV):
        yield dsn
    elif docker_available:
        with _postgres_container() as dsn:
            yield dsn
    else:
        # Not under pytest's base folder: pytest closes /tmp/pytest-of-<user> to other users
        # whenever a session starts, and when we are root the server runs as `postgres`, which
        # must reach its data folder (a concurrent session would break initdb).
        base_dir = Path(tempfile.mkdtemp(prefix="wallet-test-postgres-"))
        try:
            async with PostgresServer(base_dir=base_dir, durable=False) as server:
                yield server.dsn
        finally:
            with contextlib.suppress(OSError):
                shutil.copy(base_dir / "postgres.log", tmp_path_factory.getbasetemp())
            shutil.rmtree(base_dir, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def kafka_bootstrap(
    tmp_path_factory: pytest.TempPathFactory, docker_available: bool
) -> AsyncIterator[str]:
    """`host:port` of the session's Kafka broker."""
    if bootstrap := os.environ.get(KAFKA_BOOTSTRAP_ENV):
        yield bootstrap
    elif docker_available:
        with _kafka_container() as bootstrap:
            yield bootstrap
    else:
        install_kafka()  # quick when the jars are there (scripts/bootstrap.sh fetched them)
        broker = KafkaBroker(base_dir=tmp_path_factory.mktemp("kafka"))
        async with broker:
            yield broker.bootstrap


@pytest_asyncio.fixture
async def database_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty database, dropped after the test."""
    name = random_database_name("t")
    dsn = await create_database(pg_server_dsn, name)
    try:
        yield dsn
    finally:
        await drop_database(pg_server_dsn, name)


@pytest_asyncio.fixture
async def topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A topic prefix of this test alone (`t<hex>.`); its topics are deleted afterwards."""
    prefix = f"t{secrets.token_hex(5)}."
    try:
        yield prefix
    finally:
        await delete_topics_with_prefix(kafka_bootstrap, prefix)
