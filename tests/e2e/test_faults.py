"""Crashes mid-workload: SIGKILL a process while transfers are in flight, restart it, and every
transfer still ends final with the books exact (invariants 1-3 of DESIGN.md)."""

from __future__ import annotations

import asyncio

from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import Gateway
from tests.e2e.workload import check_books, open_accounts, plan_transfers, settle, submit_all

OUTAGE_BUDGET_S = 90.0  # how long a submission may keep meeting the dead process


async def _crash_during_workload(
    gw: Gateway, cluster: WalletCluster, victims: list[str], seed: int
) -> None:
    accounts = await open_accounts(gw, count=8, funds=10_000)
    plan = plan_transfers(seed, accounts=len(accounts), count=80, max_amount=3000)
    midway = asyncio.Event()
    workload = asyncio.create_task(
        submit_all(
            accounts,
            plan,
            concurrency=10,
            outage_budget_s=OUTAGE_BUDGET_S,
            on_accepted=midway,
            accepted_threshold=20,
        )
    )
    try:
        await asyncio.wait_for(midway.wait(), timeout=60)
        assert not workload.done(), "the workload ended before the crash"
        for victim in victims:
            await cluster.kill(victim)
        await asyncio.sleep(1.0)  # let submissions and messages meet the dead processes
        for victim in victims:
            await cluster.restart(victim)
        outcomes = await workload
    finally:
        workload.cancel()

    await settle(gw.admin(), outcomes)
    endings = await check_books(gw, accounts, outcomes)
    assert sum(endings.values()) == 80


async def test_coordinator_crash_mid_workload(gw: Gateway, cluster: WalletCluster) -> None:
    await _crash_during_workload(gw, cluster, ["coordinator"], seed=7)


async def test_shard_crash_mid_workload(gw: Gateway, cluster: WalletCluster) -> None:
    await _crash_during_workload(gw, cluster, ["shard-1"], seed=11)


async def test_coordinator_and_shard_crash_together(gw: Gateway, cluster: WalletCluster) -> None:
    await _crash_during_workload(gw, cluster, ["shard-0", "coordinator"], seed=23)
