"""The audit log and risk flags through the public API, on real PostgreSQL and Kafka: every
admin action, refused request and integrity run is recorded where it happened and listed merged
and filtered; the audit table refuses UPDATE and DELETE; risky movements are flagged (money
still moves), listed, and published as `risk.flagged`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from wallet_devtools.cluster import WalletCluster
from wallet_devtools.postgres import database_dsn
from wallet_shared.contracts.topics import Topics

from tests.e2e.client import Api, Gateway, assert_problem, expect
from tests.e2e.webhook_receiver import eventually

ADMIN_ACTIONS = {
    "wallet.freeze",
    "wallet.unfreeze",
    "wallet.limits",
    "transaction.refund",
    "transaction.reversal",
}


async def _admin_actions_on(admin: Api, alice: Api, wallet_id: str) -> None:
    expect(await admin.post(f"/v1/wallets/{wallet_id}/freeze"), 200)
    expect(await admin.post(f"/v1/wallets/{wallet_id}/unfreeze"), 200)
    expect(await admin.put(f"/v1/wallets/{wallet_id}/limits", {"daily": 900000}), 200)
    await alice.deposit(wallet_id, 500)
    deposit = await alice.deposit(wallet_id, 200)
    purchase = expect(
        await alice.post_money(
            f"/v1/wallets/{wallet_id}/purchases", {"amount": 100, "order_id": "o-1"}
        ),
        201,
    )
    refund = {"purchase_id": purchase["id"], "amount": 40}
    expect(await admin.post_money(f"/v1/wallets/{wallet_id}/refunds", refund), 201)
    reversal = f"/v1/wallets/{wallet_id}/transactions/{deposit['id']}/reversal"
    expect(await admin.post_money(reversal, {"reason": "booked twice"}), 201)


async def test_admin_actions_and_refusals_are_audited_append_only(
    cluster: WalletCluster, gw: Gateway
) -> None:
    admin, alice, auditor = gw.admin(), gw.user("alice"), gw.auditor()
    wallet = await alice.create_wallet()
    await _admin_actions_on(admin, alice, wallet["id"])
    assert_problem(await gw.with_token(None).get("/v1/wallets"), 401, "unauthorized")
    assert_problem(await alice.get("/v1/admin/audit-log"), 403, "forbidden")
    expect(await auditor.get("/v1/admin/integrity"), 200)

    mine = await auditor.all_pages("/v1/admin/audit-log", {"wallet_id": wallet["id"]})
    assert {record["action"] for record in mine} == ADMIN_ACTIONS
    for record in mine:
        assert (record["actor"], record["role"]) == ("ops-admin", "admin")
        assert record["client"] == "127.0.0.1"
        assert record["trace_id"]
    [reversal] = [r for r in mine if r["action"] == "transaction.reversal"]
    assert reversal["reason"] == "booked twice"
    assert [r["at"] for r in mine] == sorted((r["at"] for r in mine), reverse=True)

    # The gateway's own records arrive shortly after (shipped off the request's path).
    async def gateway_records() -> bool:
        found = await auditor.all_pages("/v1/admin/audit-log")
        return {"request.unauthorized", "request.forbidden", "integrity.run"} <= {
            r["action"] for r in found
        }

    await eventually(gateway_records, what="401, 403 and integrity run audited")
    [forbidden] = await auditor.all_pages("/v1/admin/audit-log", {"action": "request.forbidden"})
    assert (forbidden["actor"], forbidden["target"]) == ("alice", "GET /v1/admin/audit-log")
    everything = await auditor.all_pages("/v1/admin/audit-log")
    paged = await auditor.all_pages("/v1/admin/audit-log", {"limit": 2})
    assert [r["id"] for r in paged] == [r["id"] for r in everything]
    until = {"until": "2000-01-01T00:00:00Z"}
    assert await auditor.all_pages("/v1/admin/audit-log", until) == []

    for database in (*cluster.database_names.shards, cluster.database_names.coordinator):
        await _refuses_changes(database_dsn(cluster.admin_dsn, database))


async def _refuses_changes(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Appending is what the table is for; changing or removing any row is refused.
        await conn.execute("INSERT INTO audit_log (id, action) VALUES ('aud_probe', 'test.probe')")
        changes = ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log")
        for statement in (*changes, "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.cluster(env={"WALLET_RISK_VELOCITY_COUNT": "3"})
async def test_risky_movements_are_flagged_listed_and_published_without_blocking(
    cluster: WalletCluster, gw: Gateway
) -> None:
    alice, bob, auditor = gw.user("alice"), gw.user("bob"), gw.auditor()
    source, destination = await alice.create_wallet(), await bob.create_wallet()
    await alice.deposit(source["id"], 1000)
    answer = await alice.transfer_raw(source["id"], destination["id"], 1000, wait_s=10)
    transfer = expect(answer, 200)
    assert transfer["status"] == "completed"  # flagged afterwards, never blocked
    await alice.deposit(source["id"], 100)
    for _ in range(3):
        expect(await alice.withdraw_raw(source["id"], 10), 201)

    async def flags() -> list[dict[str, Any]]:
        return await auditor.all_pages("/v1/admin/risk-flags", {"wallet_id": source["id"]})

    async def both_rules() -> bool:
        return {"deposit_then_transfer", "velocity"} <= {f["rule"] for f in await flags()}

    await eventually(both_rules, what="velocity and deposit-then-transfer flags")
    found = await flags()
    [passing] = [f for f in found if f["rule"] == "deposit_then_transfer"]
    assert passing["transfer_id"] == transfer["id"]
    assert all(f["wallet_id"] == source["id"] for f in found)
    assert_problem(await alice.get("/v1/admin/risk-flags"), 403, "forbidden")
    assert await auditor.all_pages("/v1/admin/risk-flags", {"wallet_id": destination["id"]}) == []
    published = await _risk_events(cluster, count=len(found))
    assert {event["flag"]["id"] for event in published} == {f["id"] for f in found}


async def _risk_events(cluster: WalletCluster, *, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        Topics(prefix=cluster.topic_prefix).events,
        bootstrap_servers=cluster.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    await consumer.start()
    try:
        while len(found) < count:
            assert time.monotonic() < deadline, f"risk.flagged events: {found}"
            batch = await consumer.getmany(timeout_ms=200)
            for record in (r for part in batch.values() for r in part):
                event = orjson.loads(record.value)
                if event["event_type"] == "risk.flagged":
                    found.append(event)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found
