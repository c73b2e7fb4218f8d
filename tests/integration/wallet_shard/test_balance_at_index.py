"""`balance?at=` on a wallet with 100,000 transactions reads one index entry, wherever the
instant falls: a plan check (what the database does), not a timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from wallet_shard.adapters import ledger_views
from wallet_shard.adapters.ledger_views import LedgerViews

from .conftest import Shard
from .test_shard_ledger import open_wallet

ROWS = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a JSON plan, depth first."""
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += scans(child)
    return nodes


async def plant_deposits(
    shard: Shard, wallet_id: str, count: int, *, id_prefix: str, first_at: datetime
) -> None:
    """`count` deposits of 1 on the wallet, one a second from `first_at`, each balanced in the
    same transaction as the ledger requires. A bulk fixture, balanced by construction: its commit
    skips the ledger's per-row checks (migration 012, tested in test_ledger_invariants.py),
    which would cost hundreds of thousands of probes here."""
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after,"
            " created_at)"
            " SELECT $4 || n, $1, 'deposit', 1, n, $2::timestamptz + n * interval '1 second'"
            " FROM generate_series(1, $3) AS n",
            wallet_id,
            first_at,
            count,
            id_prefix,
        )
        await conn.execute(
            "INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)"
            " SELECT t.id, a.account, 'USD', a.amount, t.created_at"
            " FROM journal_transactions t,"
            "      (VALUES ($1, 1), ('system:cash_in:USD', -1)) AS a (account, amount)"
            " WHERE t.wallet_id = $1",
            wallet_id,
        )


async def test_a_point_in_time_balance_reads_one_index_entry(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await plant_deposits(shard, wallet.id, ROWS, id_prefix="txn_b", first_at=T0)
    await shard.pool.execute("ANALYZE journal_transactions")
    async with shard.uow.reading() as repos:
        views = LedgerViews(repos.conn)
        assert await views.balance_at(wallet.id, T0) == 0
        assert await views.balance_at(wallet.id, T0 + timedelta(seconds=ROWS // 2)) == ROWS // 2
        assert await views.balance_at(wallet.id, T0 + timedelta(days=10)) == ROWS
    for at in (T0, T0 + timedelta(seconds=ROWS // 2), T0 + timedelta(days=10)):
        explained = await shard.pool.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + ledger_views._BALANCE_AT, wallet.id, at
        )
        plan = orjson.loads(explained) if isinstance(explained, str | bytes) else explained
        nodes = scans(plan[0]["Plan"])
        kinds = {node["Node Type"] for node in nodes}
        assert "Seq Scan" not in kinds, kinds
        assert "Sort" not in kinds, kinds
        index_scans = [node for node in nodes if node["Node Type"].startswith("Index")]
        assert index_scans, kinds
        assert all(node["Actual Rows"] <= 1 for node in index_scans)
