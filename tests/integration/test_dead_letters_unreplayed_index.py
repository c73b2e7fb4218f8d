"""The metrics sampler counts a service's unreplayed dead letters every few seconds: it reads
them through the partial index of migration 005, not the replayed ones that stay for good (a
plan check, not a timing)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from wallet_shared.platform import monitoring

from tests.integration.wallet_shard.test_balance_at_index import scans

REPLAYED = 20_000


async def test_unreplayed_dead_letters_are_counted_through_their_partial_index(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute(
        'INSERT INTO dead_letters (service, topic, partition, "offset", error, attempts,'
        " replayed_at)"
        " SELECT CASE WHEN n % 2 = 0 THEN 'svc' ELSE 'other' END, 'p.commands', 0, n, 'e', 1,"
        "        CASE WHEN n <= $1 THEN now() END"
        " FROM generate_series(1, $1 + 6) AS n",
        REPLAYED,
    )
    await pool.execute("ANALYZE dead_letters")

    rows = await pool.fetch(monitoring._UNREPLAYED, "svc")
    assert [(row["topic"], row["unreplayed"]) for row in rows] == [("p.commands", 3)]
    explained = await pool.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + monitoring._UNREPLAYED, "svc"
    )
    plan: Any = orjson.loads(explained) if isinstance(explained, str | bytes) else explained
    nodes = scans(plan[0]["Plan"])
    reads = [node for node in nodes if node.get("Relation Name") == "dead_letters"]
    assert reads
    assert all(node.get("Index Name") == "dead_letters_unreplayed" for node in reads), reads
    assert all(node["Actual Rows"] <= 3 for node in reads)
