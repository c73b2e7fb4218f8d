"""The integrity check compares every shard's clearing account with the coordinator's sagas as
one consistent cut: a divergence written behind the system's back is named with its shard and
amount, and a check run again and again while transfers flow never raises a false alarm."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from wallet_devtools import postgres
from wallet_devtools.cluster import WalletCluster
from wallet_shared.contracts.ids import new_transfer_id

from tests.e2e.client import Gateway, expect, shard_of_wallet, user_on_shard
from tests.e2e.workload import check_integrity, open_accounts, plan_transfers, settle, submit_all

FORGED = 70


async def _forge_confirmed_debit(dsn: str, wallet_id: str, transfer_id: str) -> None:
    """A confirmed debit leg and its booking (wallet -> clearing) for a transfer the coordinator
    never ran: balanced, and consistent on the shard itself (its clearing matches its confirmed
    legs, the wallet its entries), so only the comparison across services can see it."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            balance = await conn.fetchval(
                "UPDATE wallets SET balance = balance - $2 WHERE id = $1 RETURNING balance",
                wallet_id,
                FORGED,
            )
            await conn.execute(
                "INSERT INTO holds (transfer_id, wallet_id, amount, currency, state, tried,"
                " updated_at) VALUES ($1, $2, $3, 'USD', 'confirmed', true, now())",
                transfer_id,
                wallet_id,
                FORGED,
            )
            txn = "txn_" + wallet_id[4:7] + "f" * 32
            await conn.execute(
                "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after,"
                " transfer_id, created_at) VALUES ($1, $2, 'transfer_out', $3, $4, $5, now())",
                txn,
                wallet_id,
                FORGED,
                balance,
                transfer_id,
            )
            await conn.execute(
                "INSERT INTO journal_entries (transaction_id, account, currency, amount,"
                " created_at) VALUES ($1, $2, 'USD', $3, now()),"
                " ($1, 'system:clearing:USD', 'USD', $4, now())",
                txn,
                wallet_id,
                -FORGED,
                FORGED,
            )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("transfer_id", "named"),
    [
        # Made now: inside the cut, judged leg by leg against the coordinator's sagas.
        (
            new_transfer_id,
            "debit leg of 70 USD confirmed here, but the coordinator has no such transfer",
        ),
        # Made long ago: outside the cut, in the sums of the completed transfers.
        (
            lambda: "trf_" + "0" * 32,
            "clearing account holds 870 USD, but the transfers through this shard account for "
            "800 (0 by those completed before the check, 800 by the confirmed legs of recent "
            "and pending ones): difference 70",
        ),
    ],
    ids=["recent-transfer", "old-transfer"],
)
async def test_money_forged_into_one_clearing_account_is_named_with_shard_and_amount(
    gw: Gateway, cluster: WalletCluster, transfer_id: Any, named: str
) -> None:
    alice, bob = gw.user(user_on_shard(0, "alice")), gw.user(user_on_shard(1, "bob"))
    alice_usd = (await alice.create_wallet("USD"))["id"]
    bob_usd = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(alice_usd, 5000)
    await bob.deposit(bob_usd, 1000)
    transfer = expect(await alice.transfer_raw(alice_usd, bob_usd, 800, wait_s=10), 200)
    assert transfer["status"] == "completed"
    await check_integrity(gw.admin(), wallets_total=6000)

    shard = shard_of_wallet(alice_usd)
    dsn = postgres.database_dsn(cluster.admin_dsn, cluster.database_names.shards[shard])
    forged = transfer_id()
    await _forge_confirmed_debit(dsn, alice_usd, forged)

    report = expect(await gw.admin().get("/v1/admin/integrity"), 200)
    assert report["consistent"] is False, report
    # Every total still adds up: the money only moved into clearing.
    assert report["currencies"]["USD"]["difference"] == "0"
    assert report["currencies"]["USD"]["in_flight"] == str(FORGED)
    problems = {entry["shard"]: entry["problems"] for entry in report["shards"]}
    assert problems[f"shard-{1 - shard}"] == []
    assert any(named in problem for problem in problems[f"shard-{shard}"]), report
    if forged.startswith("trf_0"):
        return
    assert f"transfer {forged}: {named}" in problems[f"shard-{shard}"]


async def test_the_check_run_100_times_under_a_transfer_load_never_cries_wolf(
    gw: Gateway,
) -> None:
    accounts = await open_accounts(gw, count=8, funds=100_000)
    plan = plan_transfers(11, accounts=len(accounts), count=600, max_amount=500)
    admin = gw.admin()
    load = asyncio.create_task(submit_all(accounts, plan, concurrency=16))
    reports = []
    try:
        for _ in range(100):
            reports.append(expect(await admin.get("/v1/admin/integrity"), 200))
    finally:
        outcomes = await load
    false_alarms = [report for report in reports if not report["consistent"]]
    assert false_alarms == [], false_alarms[:3]
    # The load really overlapped the checks: some of them saw money in flight.
    assert any(report["currencies"]["USD"]["in_flight"] != "0" for report in reports)
    await settle(admin, outcomes)
    await check_integrity(admin, wallets_total=8 * 100_000)
