"""Idempotency answers expire after the retention period, deleted in small batches; younger ones
stay, and a key whose answer expired is a new key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from wallet_shared.platform.db import transaction
from wallet_shared.platform.idempotency import run_idempotent
from wallet_shared.platform.retention import IDEMPOTENCY_KEYS, RetentionJanitor

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RETENTION = timedelta(hours=48)


async def store_keys(pool: asyncpg.Pool, count: int, *, age: timedelta, prefix: str) -> None:
    await pool.execute(
        "INSERT INTO idempotency_keys (caller, key, fingerprint, status_code, body, created_at)"
        " SELECT 'alice', $1 || n, 'f', 201, '\\x7b7d'::bytea, $2"
        " FROM generate_series(1, $3) AS n",
        prefix,
        NOW - age,
        count,
    )


async def test_expired_answers_go_in_batches_and_younger_ones_stay(pool: asyncpg.Pool) -> None:
    await store_keys(pool, 23, age=RETENTION + timedelta(minutes=1), prefix="old-")
    await store_keys(pool, 5, age=RETENTION - timedelta(minutes=1), prefix="young-")
    janitor = RetentionJanitor(
        pool=pool,
        service="test",
        tables=[IDEMPOTENCY_KEYS],
        retention=RETENTION,
        batch=10,
        clock=lambda: NOW,
    )
    assert await janitor.sweep() == 23
    keys = await pool.fetch("SELECT key FROM idempotency_keys ORDER BY key")
    assert [row["key"] for row in keys] == [f"young-{n}" for n in range(1, 6)]
    assert await janitor.sweep() == 0


async def test_a_key_whose_answer_expired_runs_again(pool: asyncpg.Pool) -> None:
    runs: list[int] = []

    async def operation() -> tuple[int, object]:
        runs.append(1)
        return 201, {"run": len(runs)}

    async def request() -> bytes:
        async with transaction(pool) as conn:
            stored = await run_idempotent(
                conn, caller="alice", key="k", fingerprint="f", operation=operation
            )
        return stored.body

    assert await request() == b'{"run":1}'
    assert await request() == b'{"run":1}'  # replayed within the retention
    await pool.execute("UPDATE idempotency_keys SET created_at = $1", NOW - RETENTION * 2)
    janitor = RetentionJanitor(
        pool=pool,
        service="test",
        tables=[IDEMPOTENCY_KEYS],
        retention=RETENTION,
        clock=lambda: NOW,
    )
    assert await janitor.sweep() == 1
    assert await request() == b'{"run":2}'
