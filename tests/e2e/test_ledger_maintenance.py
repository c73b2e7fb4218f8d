"""`wallet ledger verify` and `wallet ledger rebuild` against a real system: a balance snapshot
that drifted from its entries is found and repaired, a hold no saga accounts for is found, a
wallet with money in flight is refused; reads for auditors, repairs for admins only."""

from __future__ import annotations

import asyncio
import secrets
import sys

import asyncpg
import orjson
import pytest
from wallet_devtools import postgres
from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import Api, Gateway, Json, expect, shard_of_wallet, user_on_shard

DRIFT = 700


async def test_a_drifted_balance_is_found_and_rebuilt_from_the_ledger(
    cluster: WalletCluster, gw: Gateway
) -> None:
    alice, bob = gw.user(user_on_shard(0, "alice")), gw.user(user_on_shard(1, "bob"))
    source = (await alice.create_wallet("USD"))["id"]
    destination = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(source, 5_000)
    moved = await alice.transfer_raw(source, destination, 1_200, wait_s=30)
    assert moved.status_code in (200, 202), moved.text  # 202: a loaded machine took longer
    admin = gw.admin()
    assert (await admin.await_final(moved.json()["id"]))["status"] == "completed"

    clean = await _verify(gw, "admin")
    assert clean["consistent"] is True, clean
    assert [s["shard"] for s in clean["shards"]] == ["shard-0", "shard-1"]
    assert sum(s["wallets_checked"] for s in clean["shards"]) >= 2
    assert (await _verify(gw, "auditor"))["consistent"] is True
    assert (await alice.get("/v1/admin/ledger/verify")).status_code == 403

    await _shard_sql(cluster, source, "UPDATE wallets SET balance = balance + $2 WHERE id = $1")
    drifted = await _verify(gw, "admin")
    assert drifted["consistent"] is False
    assert drifted["differences"] == [
        {
            "shard": "shard-0",
            "kind": "balance",
            "wallet_id": source,
            "transfer_id": None,
            "expected": "3800",
            "actual": str(3_800 + DRIFT),
            "detail": f"balance is {3_800 + DRIFT} but its journal entries sum to 3800",
        }
    ]
    refused = await gw.auditor().post("/v1/admin/ledger/rebuild", {"wallet_id": source})
    assert refused.status_code == 403

    token = cluster.token("ops-admin", "admin")
    code, out = await _wallet(
        "ledger", "rebuild", "--wallet", source, "--json", cluster=cluster, token=token
    )
    assert code == 0, out
    [outcome] = orjson.loads(out)["items"]
    assert (outcome["outcome"], outcome["balance_before"], outcome["balance_after"]) == (
        "rebuilt",
        str(3_800 + DRIFT),
        "3800",
    )
    assert (await _verify(gw, "admin"))["consistent"] is True
    assert (await admin.integrity())["consistent"] is True
    audit = expect(await admin.get("/v1/admin/audit-log", {"action": "wallet.ledger_rebuild"}), 200)
    assert [(r["target"], r["actor"]) for r in audit["items"]] == [(source, "ops-admin")]

    code, out = await _wallet("ledger", "rebuild", "--all", "--json", cluster=cluster, token=token)
    assert code == 0, out
    assert {o["outcome"] for o in orjson.loads(out)["items"]} == {"unchanged"}


async def test_a_hold_no_saga_accounts_for_is_found_and_its_wallet_is_not_rebuilt(
    cluster: WalletCluster, gw: Gateway
) -> None:
    alice = gw.user(user_on_shard(0, "alice"))
    wallet = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wallet, 1_000)
    stray = f"trf_{secrets.token_hex(16)}"
    await _shard_sql(
        cluster,
        wallet,
        "WITH hold AS (INSERT INTO holds (transfer_id, wallet_id, amount, currency, state, tried,"
        " updated_at) VALUES ($3, $1, $2, 'USD', 'active', true, now()))"
        " UPDATE wallets SET frozen = frozen + $2 WHERE id = $1",
        stray,
    )
    report = await _verify(gw, "admin")
    assert report["consistent"] is False
    assert [
        (d["kind"], d["transfer_id"], d["expected"], d["actual"]) for d in report["differences"]
    ] == [("hold", stray, "0", str(DRIFT))]
    assert report["open_transfers"] == 1

    token = cluster.token("ops-admin", "admin")
    code, out = await _wallet("ledger", "rebuild", "--wallet", wallet, cluster=cluster, token=token)
    assert code == 1, out  # refused: money in flight
    assert "refused" in out
    assert "1 open hold" in out
    assert expect(await alice.get(f"/v1/wallets/{wallet}"), 200)["frozen_balance"] == str(DRIFT)


@pytest.mark.cluster(env={"WALLET_TRANSFER_DEADLINE_S": "600"})
async def test_a_wallet_with_a_transfer_in_flight_is_refused_until_the_transfer_settles(
    cluster: WalletCluster, gw: Gateway
) -> None:
    alice, bob = gw.user(user_on_shard(0, "alice")), gw.user(user_on_shard(1, "bob"))
    source = (await alice.create_wallet("USD"))["id"]
    destination = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(source, 2_000)
    token = cluster.token("ops-admin", "admin")

    await cluster.kill("shard-1")  # the credit side cannot answer: the saga stays in flight
    started = expect(await alice.transfer_raw(source, destination, 500), 202)
    await _until_frozen(alice, source, "500")
    code, out = await _wallet("ledger", "rebuild", "--wallet", source, cluster=cluster, token=token)
    assert code == 1, out
    assert "refused" in out
    assert "money in flight: 1 open hold(s)" in out
    # With a shard away, verification cannot be complete: the gateway's 503, exit 3.
    code, out = await _wallet("ledger", "verify", cluster=cluster, token=token)
    assert code == 3, out
    assert "503 service_unavailable" in out

    await cluster.restart("shard-1")
    final = await gw.admin().await_final(started["id"], timeout_s=120)
    assert final["status"] == "completed"
    code, out = await _wallet("ledger", "rebuild", "--wallet", source, cluster=cluster, token=token)
    assert code == 0, out
    assert "1 wallet(s): 0 rebuilt, 1 unchanged, 0 refused" in out
    assert (await _verify(gw, "admin"))["consistent"] is True


async def _until_frozen(api: Api, wallet_id: str, amount: str) -> None:
    """Wait (generously) until the wallet's hold is placed."""
    for _ in range(1200):
        if (await api.wallet(wallet_id))["frozen_balance"] == amount:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no hold of {amount} on {wallet_id}")


async def _verify(gw: Gateway, role: str) -> Json:
    api = gw.admin() if role == "admin" else gw.auditor()
    report: Json = expect(await api.get("/v1/admin/ledger/verify"), 200)
    return report


async def _shard_sql(cluster: WalletCluster, wallet_id: str, sql: str, *extra: object) -> None:
    """Change a shard's rows behind the services' back, as a faulty script or disk would."""
    name = cluster.database_names.shards[shard_of_wallet(wallet_id)]
    conn = await asyncpg.connect(postgres.database_dsn(cluster.admin_dsn, name))
    try:
        await conn.execute(sql, wallet_id, DRIFT, *extra)
    finally:
        await conn.close()


async def _wallet(*arguments: str, cluster: WalletCluster, token: str) -> tuple[int, str]:
    """`wallet ...` as an operator runs it, against this cluster's gateway: exit code, stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wallet_devtools.cli",
        *arguments,
        "--gateway-url",
        cluster.gateway_url,
        "--token",
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    # stdout is the answer alone (progress goes to stderr), which `--json` relies on.
    assert process.returncode in (0, 1, 3), err.decode()
    # A refusal (exit 3) is told on stderr; the tests read it with the answer.
    return process.returncode, out.decode() + (err.decode() if process.returncode == 3 else "")
