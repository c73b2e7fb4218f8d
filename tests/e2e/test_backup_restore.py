"""The restore drill: a backup taken while transfers run restores into fresh databases, a system
started on them settles every transfer that was in flight at the cut, and its books balance.

`wallet backup` and `wallet restore` are what run here (`wallet_devtools.ops.backup`), against
the session's real PostgreSQL and Kafka; the restored system is a second cluster on the same
servers, on its own topics.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from wallet_devtools import postgres
from wallet_devtools.cluster import DatabaseNames, WalletCluster
from wallet_devtools.ops.backup import restore_backup, system_databases, take_backup

from tests.e2e.client import Gateway, open_gateway
from tests.e2e.workload import check_integrity, open_accounts, plan_transfers, settle, submit_all

FUNDS = 10_000
ACCOUNTS = 8


@pytest.mark.cluster(env={"WALLET_REDRIVE_AFTER_S": "1"})
async def test_a_backup_taken_under_load_restores_into_a_system_that_settles_everything(
    cluster: WalletCluster, gw: Gateway, pg_server_dsn: str, tmp_path: Path
) -> None:
    accounts = await open_accounts(gw, count=ACCOUNTS, funds=FUNDS)
    plan = plan_transfers(20261202, accounts=ACCOUNTS, count=240, max_amount=3000)
    running = asyncio.Event()
    workload = asyncio.create_task(
        submit_all(
            accounts,
            plan,
            concurrency=24,
            # A loaded machine may answer 503 now and then: retried with the same key.
            outage_budget_s=300,
            on_accepted=running,
            accepted_threshold=60,
        )
    )
    await asyncio.wait_for(running.wait(), timeout=120)
    assert not workload.done(), "the backup must be taken while transfers run"

    names = cluster.database_names
    databases = system_databases(
        postgres.database_dsn(pg_server_dsn, names.coordinator),
        [postgres.database_dsn(pg_server_dsn, name) for name in names.shards],
    )
    steps: list[str] = []
    manifest = await take_backup(
        databases, tmp_path / "backup", topic_prefix=cluster.topic_prefix, progress=steps.append
    )
    in_flight = [saga["id"] for saga in manifest["in_flight"]]
    # 24 transfers in flight at any moment, half of them between shards: the cut holds sagas.
    assert in_flight, f"no saga in flight at the cut: {steps}"
    assert [d["label"] for d in manifest["databases"]] == ["coordinator", "shard-0", "shard-1"]

    await settle(gw.admin(), await workload)  # the original system finishes its own work

    suffix = f"r{secrets.token_hex(4)}"
    restored = await restore_backup(
        tmp_path / "backup",
        server_dsn=pg_server_dsn,
        suffix=suffix,
        topic_prefix=f"{suffix}.",
        progress=steps.append,
    )
    assert restored.in_flight == len(in_flight)
    system = WalletCluster(
        admin_dsn=pg_server_dsn,
        kafka_bootstrap=cluster.kafka_bootstrap,
        log_dir=tmp_path / "restored-logs",
        throwaway=True,  # drops the restored databases and deletes its topics afterwards
        topic_prefix=restored.topic_prefix,
        topic_partitions=2,
        databases=DatabaseNames(
            shards=tuple(_database(dsn) for dsn in restored.shard_dsns),
            coordinator=_database(restored.coordinator_dsn),
        ),
        extra_env={"WALLET_REDRIVE_AFTER_S": "1"},
        base_env=os.environ,
    )
    await system.start()
    try:
        async with open_gateway(system.gateway_url, system.token) as restored_gw:
            admin = restored_gw.admin()
            for transfer_id in in_flight:
                final = await admin.await_final(transfer_id, timeout_s=120)
                assert final["status"] in ("completed", "cancelled"), final
            # Only transfers moved money after the deposits: the total is what was deposited.
            await check_integrity(admin, wallets_total=ACCOUNTS * FUNDS)
            balances = [int((await admin.wallet(a.wallet_id))["balance"]) for a in accounts]
            frozen = [(await admin.wallet(a.wallet_id))["frozen_balance"] for a in accounts]
            assert sum(balances) == ACCOUNTS * FUNDS
            assert frozen == ["0"] * ACCOUNTS
            # The operator's commands agree, run as an operator runs them.
            token = system.token("drill-admin", "admin")
            for command in (["integrity"], ["ledger", "verify"]):
                code, out = await _wallet(
                    *command, "--json", gateway=system.gateway_url, token=token
                )
                assert code == 0, out
                assert orjson.loads(out)["consistent"] is True
    except BaseException:
        for name in system.services:
            print(f"\n----- restored {name} -----\n{system.log_tail(name)}")
        raise
    finally:
        await system.stop()


def _database(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def _wallet(*arguments: str, gateway: str, token: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wallet_devtools.cli",
        *arguments,
        "--gateway-url",
        gateway,
        "--token",
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()
