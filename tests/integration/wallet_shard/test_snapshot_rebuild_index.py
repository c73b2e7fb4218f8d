"""Rebuilding one wallet's snapshot holds the wallet's lock while it sums the wallet's entries:
that sum reads the wallet's own rows through indexes, however large the rest of the journal is
(a plan check, not a timing). Paging through the wallets starts each page on the primary key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from wallet_shard.adapters import snapshot_queries
from wallet_shard.adapters.snapshot_queries import SnapshotQueries

from .conftest import Shard
from .test_balance_at_index import plant_deposits, scans
from .test_shard_ledger import USERS, deposit, open_wallet, withdraw

OTHER_ROWS = 50_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_wallets_entries_are_summed_through_indexes_under_its_lock(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    for amount in (700, 300):
        await deposit(shard, wallet.id, amount)
    await withdraw(shard, wallet.id, 250)
    busy = await open_wallet(shard, USERS[1])
    # The rest of the journal: another wallet's many deposits.
    await plant_deposits(shard, busy.id, OTHER_ROWS, id_prefix="txn_o", first_at=T0)
    await shard.pool.execute("ANALYZE journal_transactions")
    await shard.pool.execute("ANALYZE journal_entries")

    async with shard.uow.transaction() as repos:
        locked = await SnapshotQueries(repos.conn).lock_and_recompute(wallet.id)
    assert locked is not None
    assert (locked.balance, locked.entries_total) == (750, 750)
    async with shard.uow.transaction() as repos:
        other = await SnapshotQueries(repos.conn).lock_and_recompute(busy.id)
    assert other is not None
    assert other.entries_total == OTHER_ROWS

    explained = await shard.pool.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + snapshot_queries._SUMS_OF_ONE, wallet.id
    )
    plan: Any = orjson.loads(explained) if isinstance(explained, str | bytes) else explained
    nodes = scans(plan[0]["Plan"])
    journal_reads = [
        node
        for node in nodes
        if node.get("Relation Name") in ("journal_transactions", "journal_entries")
    ]
    assert {node["Relation Name"] for node in journal_reads} == {
        "journal_transactions",
        "journal_entries",
    }
    assert all(node["Node Type"] != "Seq Scan" for node in journal_reads), journal_reads
    # The wallet's three transactions and their entries, nothing of the other wallet's.
    assert all(node["Actual Rows"] * node["Actual Loops"] <= 6 for node in journal_reads)


async def test_wallet_pages_follow_the_id_order_from_the_first_to_the_last(shard: Shard) -> None:
    opened = sorted([(await open_wallet(shard, user)).id for user in USERS[:5]])
    async with shard.uow.reading() as repos:
        queries = SnapshotQueries(repos.conn)
        first = await queries.wallet_ids_after(None, limit=2)
        second = await queries.wallet_ids_after(first[-1], limit=2)
        rest = await queries.wallet_ids_after(second[-1], limit=10)
    assert [*first, *second, *rest] == opened
