"""The yardstick: the same money movement done by the PostgreSQL server alone.

One transaction per transfer: lock the two wallet rows `FOR UPDATE` in id order, update both
balances, insert the two ledger rows, commit. It runs in a database of its own on the server
the system's databases live on, with the server's durability settings (which it reads and
reports: `fsync` and `synchronous_commit` must be on for the comparison to be fair), at a few
concurrencies; the best rate is the baseline every phase is compared with.

    async with baseline_database(server_dsn) as (dsn, settings):
        result = await run_trials(dsn, concurrencies=(8, 16, 32), trial_s=4, settings=settings)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from wallet_devtools import postgres
from wallet_devtools.bench.stats import OK, Sample, Window, summarise

_WALLETS = 1000
_OPENING_BALANCE = 10**12
_SCHEMA = """
CREATE TABLE wallets (id bigint PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    transfer_id uuid NOT NULL,
    wallet_id bigint NOT NULL REFERENCES wallets (id),
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
_LOCK = "SELECT id, balance FROM wallets WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
_UPDATE = (
    "UPDATE wallets SET balance = balance + change.amount "
    "FROM unnest($1::bigint[], $2::bigint[]) AS change (id, amount) WHERE wallets.id = change.id"
)
_BOOK = (
    "INSERT INTO ledger_entries (transfer_id, wallet_id, amount) VALUES ($1, $2, $3), ($1, $4, $5)"
)


@dataclass(frozen=True)
class BaselineResult:
    tps: float
    concurrency: int
    by_concurrency: dict[int, float]
    p50_ms: float | None
    p99_ms: float | None
    operations: int  # transfers done in all trials, warm-up included (what their CPU bought)
    settings: dict[str, str] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def baseline_database(server_dsn: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A fresh database with the wallets, dropped on the way out; yields its DSN and the
    server's durability settings."""
    name = f"wallet_bench_baseline_{secrets.token_hex(4)}"
    dsn = await postgres.create_database(server_dsn, name)
    try:
        yield dsn, await _prepare(dsn)
    finally:
        await postgres.drop_database(server_dsn, name)


async def run_trials(
    dsn: str,
    *,
    concurrencies: Sequence[int],
    trial_s: float,
    settings: dict[str, str],
    on_trial: Callable[[int, float], None] | None = None,
) -> BaselineResult:
    """One trial per concurrency; the best rate is the baseline."""
    trials: dict[int, _TrialFigures] = {}
    for concurrency in concurrencies:
        trials[concurrency] = await _trial(dsn, concurrency, trial_s)
        if on_trial is not None:
            on_trial(concurrency, trials[concurrency].throughput)
    best = max(trials, key=lambda c: trials[c].throughput)
    return BaselineResult(
        tps=trials[best].throughput,
        concurrency=best,
        by_concurrency={c: round(t.throughput, 1) for c, t in trials.items()},
        p50_ms=trials[best].p50_ms,
        p99_ms=trials[best].p99_ms,
        operations=sum(t.operations for t in trials.values()),
        settings=settings,
    )


async def _prepare(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(_SCHEMA)
        await connection.copy_records_to_table(
            "wallets", records=[(n, _OPENING_BALANCE) for n in range(1, _WALLETS + 1)]
        )
        await connection.execute("ANALYZE wallets")
        names = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
        return {n: str(await connection.fetchval(f"SHOW {n}")) for n in names}
    finally:
        await connection.close()


async def _trial(dsn: str, concurrency: int, duration_s: float) -> _TrialFigures:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:
        samples: list[Sample] = []
        rng = random.Random(concurrency)
        # A short unmeasured start lets every connection prepare its statements.
        start = time.perf_counter() + min(1.0, duration_s / 4)
        window = Window(start, start + duration_s)
        await asyncio.gather(*(_client(pool, rng, window.end, samples) for _ in range(concurrency)))
    finally:
        await pool.close()
    summary = summarise("baseline", samples, window, None)
    return _TrialFigures(summary.throughput, summary.p50_ms, summary.p99_ms, len(samples))


@dataclass(frozen=True)
class _TrialFigures:
    throughput: float
    p50_ms: float | None
    p99_ms: float | None
    operations: int


async def _client(
    pool: asyncpg.Pool, rng: random.Random, stop_at: float, samples: list[Sample]
) -> None:
    async with pool.acquire() as connection:
        while (began := time.perf_counter()) < stop_at:
            source, destination = rng.sample(range(1, _WALLETS + 1), 2)
            await _transfer(connection, source, destination, 1)
            samples.append(Sample(began, time.perf_counter(), OK))


async def _transfer(
    connection: asyncpg.Connection, source: int, destination: int, amount: int
) -> None:
    transfer_id = uuid.uuid4()
    async with connection.transaction():
        await connection.fetch(_LOCK, [source, destination])
        await connection.execute(_UPDATE, [source, destination], [-amount, amount])
        await connection.execute(_BOOK, transfer_id, source, -amount, destination, amount)
