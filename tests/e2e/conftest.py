"""End-to-end fixtures: a fresh wallet system per test, on the session's PostgreSQL and Kafka.

    async def test_deposit(cluster: WalletCluster) -> None:
        async with httpx.AsyncClient(base_url=cluster.gateway_url) as client:
            await client.post("/v1/wallets", json={"currency": "EUR"},
                              headers=cluster.auth_headers("alice"))

    @pytest.mark.cluster(shard_count=3, env={"WALLET_TRANSFER_DEADLINE_S": "2"})
    async def test_deadline(cluster: WalletCluster) -> None:
        await cluster.kill("coordinator"); ...; await cluster.restart("coordinator")

Each test gets its own databases (random names, dropped afterwards), topic prefix (topics
deleted afterwards), ports and service processes. `gw` wraps the cluster's gateway in the
tests' API client (tests/e2e/client.py). When a test fails, the tail of every
service's log is printed with its report.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
import pytest_asyncio
from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import Gateway, open_gateway

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()
# Fewer partitions than the services' default: topic creation is part of every test's set-up.
_TEST_TOPIC_PARTITIONS = 2


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster(shard_count=2, env=None, topic_partitions=2): options of the `cluster` fixture",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest_asyncio.fixture
async def cluster(
    request: pytest.FixtureRequest,
    pg_server_dsn: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> AsyncIterator[WalletCluster]:
    """A running wallet system (2 shards by default) of this test alone."""
    marker = request.node.get_closest_marker("cluster")
    options = dict(marker.kwargs) if marker else {}
    system = WalletCluster(
        admin_dsn=pg_server_dsn,
        kafka_bootstrap=kafka_bootstrap,
        log_dir=tmp_path / "logs",
        throwaway=True,
        shard_count=options.get("shard_count", 2),
        topic_partitions=options.get("topic_partitions", _TEST_TOPIC_PARTITIONS),
        extra_env=options.get("env"),
        base_env=os.environ,
    )
    await system.start()
    try:
        yield system
    finally:
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is not None and report.failed:
            _print_logs(system)
        await system.stop()


@pytest_asyncio.fixture
async def gw(cluster: WalletCluster) -> AsyncIterator[Gateway]:
    """An HTTP client on this test's gateway, minting tokens with the cluster's secret."""
    async with open_gateway(cluster.gateway_url, cluster.token) as gateway:
        yield gateway


def _print_logs(system: WalletCluster) -> None:
    # Shown under "Captured stdout teardown" of the failed test.
    for name in system.services:
        print(f"\n----- {name} ({system.log_path(name)}) -----\n{system.log_tail(name)}")
