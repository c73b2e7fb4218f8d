"""A throwaway system for a run that measures or breaks it (`wallet bench --start`,
`wallet chaos`): its own PostgreSQL, Kafka broker and every service under one folder.

The folder is emptied first. On the way out everything stops and the servers' data is deleted;
the services' logs stay in `logs/` for a look after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wallet_devtools import postgres
from wallet_devtools.cluster import WalletCluster, start_servers
from wallet_devtools.kafka import KafkaBroker, install_kafka
from wallet_devtools.paths import KAFKA_LIBS_DIR

# Such a run sends its whole load from a few callers: the default per-caller rate limit would
# throttle it, and measure or test the limiter instead of the system.
_NO_RATE_LIMIT: Final = {
    "WALLET_RATE_LIMIT_PER_S": "1000000",
    "WALLET_RATE_LIMIT_BURST": "1000000",
}


@dataclass(frozen=True)
class ThrowawaySystem:
    """The servers and the services of a throwaway system, all running."""

    pg: postgres.PostgresServer
    kafka: KafkaBroker
    cluster: WalletCluster


@contextlib.asynccontextmanager
async def throwaway_system(
    base: Path,
    *,
    shard_count: int,
    say: Callable[[str], object],
    for_faults: bool = False,
    ready_timeout: float = 60.0,
) -> AsyncIterator[ThrowawaySystem]:
    """PostgreSQL, Kafka and every service under `base`, emptied first.

    `say` tells the user what is starting. `for_faults`: the servers are made to be killed and
    started again (`cluster.start_servers`); `ready_timeout`: how long each service may take to
    answer ready, at start and after a restart.
    """
    say(f"Starting a throwaway system (PostgreSQL, Kafka, services) in {base}...")
    await asyncio.to_thread(install_kafka, libs_dir=KAFKA_LIBS_DIR)
    await asyncio.to_thread(_empty_folder, base)
    try:
        async with contextlib.AsyncExitStack() as stack:
            pg, kafka = await start_servers(stack, base, for_faults=for_faults)
            cluster = WalletCluster(
                admin_dsn=pg.dsn,
                kafka_bootstrap=kafka.bootstrap,
                log_dir=base / "logs",
                shard_count=shard_count,
                throwaway=True,
                log_level="WARNING",
                extra_env=_NO_RATE_LIMIT,
                ready_timeout=ready_timeout,
            )
            await stack.enter_async_context(cluster)
            yield ThrowawaySystem(pg, kafka, cluster)
    finally:
        for data in ("postgres", "kafka"):
            await asyncio.to_thread(shutil.rmtree, base / data, ignore_errors=True)


def _empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
