"""The system a chaos run breaks (a throwaway system, its servers made to be killed and started
again: `cluster.start_servers`), and the faults it injects."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wallet_devtools import postgres
from wallet_devtools.chaos.schedule import Fault, FaultKind, PostgresCrash
from wallet_devtools.cluster import ServiceStartError, WalletCluster
from wallet_devtools.kafka import KafkaBroker
from wallet_devtools.processes import ProcessExitedError, await_all_or_cancel
from wallet_devtools.throwaway import throwaway_system

_SERVICE_READY_S = 240.0  # a service restart on a busy 2-core machine, Kafka rejoin included


class NotRecoveredError(RuntimeError):
    """The system did not come back after a fault within the allowed time."""


@dataclass
class FaultRecord:
    """A fault that was injected: when it struck and when everything was ready again."""

    fault: Fault
    struck_at: float  # time.monotonic()
    recovered_at: float


@dataclass
class ChaosSystem:
    pg: postgres.PostgresServer
    kafka: KafkaBroker
    cluster: WalletCluster
    injected: list[FaultRecord] = field(default_factory=list)

    def shard_dsns(self) -> list[str]:
        return [postgres.database_dsn(self.pg.dsn, n) for n in self.cluster.database_names.shards]

    def coordinator_dsn(self) -> str:
        return postgres.database_dsn(self.pg.dsn, self.cluster.database_names.coordinator)

    async def inject(self, fault: Fault, *, recover_within_s: float) -> FaultRecord:
        """Break what the fault names, keep it down for its time, bring it back, and wait
        until every service answers ready again."""
        struck_at = time.monotonic()
        try:
            await self._break_and_restart(fault)
        except (ServiceStartError, ProcessExitedError, TimeoutError) as error:
            raise NotRecoveredError(f"{fault.describe()}: {error}") from error
        await self.wait_ready(within_s=recover_within_s)
        record = FaultRecord(fault, struck_at, time.monotonic())
        self.injected.append(record)
        return record

    async def _break_and_restart(self, fault: Fault) -> None:
        # The outage is part of the fault (how long things stay dead), not a wait for anything.
        if fault.kind in (FaultKind.SERVICE, FaultKind.TWO_SERVICES):
            await asyncio.gather(*(self.cluster.kill(name) for name in fault.targets))
            await asyncio.sleep(fault.down_s)
            await await_all_or_cancel([self.cluster.restart(name) for name in fault.targets])
        elif fault.kind is FaultKind.KAFKA:
            await self.kafka.kill()
            await asyncio.sleep(fault.down_s)
            await self.kafka.start()
        else:
            await self.pg.crash(immediate=fault.postgres_crash is PostgresCrash.IMMEDIATE)
            await asyncio.sleep(fault.down_s)
            await self.pg.start()

    def exited_by_themselves(self) -> list[str]:
        """Services that are not running although no fault is under way."""
        return [name for name in self.cluster.services if not self.cluster.is_running(name)]

    async def wait_ready(self, *, within_s: float) -> None:
        """Until every service answers `GET /health/ready` with 200 (database, Kafka, loops
        and, for the gateway, every backend)."""
        deadline = time.monotonic() + within_s
        pending = dict(self.cluster.urls)
        async with httpx.AsyncClient(timeout=5.0) as http:
            while pending:
                for name, url in list(pending.items()):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/health/ready")).status_code == 200:
                            del pending[name]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    raise NotRecoveredError(
                        f"not ready {within_s:.0f} s after the fault: {', '.join(pending)}"
                    )
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def chaos_system(
    base: Path, *, shard_count: int, say: Callable[[str], object]
) -> AsyncIterator[ChaosSystem]:
    """A throwaway system under `base` whose servers can be killed and started again."""
    async with throwaway_system(
        base, shard_count=shard_count, say=say, for_faults=True, ready_timeout=_SERVICE_READY_S
    ) as system:
        yield ChaosSystem(system.pg, system.kafka, system.cluster)
