"""Group commit on a real database: concurrent works share one transaction, a refusal spares
the others, and a failure rolls the batch back and runs each work again alone."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import structlog
from wallet_shared.contracts.errors import NotFound, ServiceUnavailable
from wallet_shared.platform.group_commit import GroupCommit, Work
from wallet_shared.platform.logging import current_trace_id


@pytest.fixture
async def table(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("CREATE TABLE booked (n integer PRIMARY KEY)")
    return pool


def booking(n: int, *, refuse: bool = False, crash: bool = False) -> Work[int]:
    async def work(conn: asyncpg.Connection) -> int:
        if refuse:
            raise NotFound(f"no {n}")  # a refusal, before any write
        await conn.execute("INSERT INTO booked (n) VALUES ($1)", n)
        if crash:
            raise RuntimeError(f"bug after writing {n}")
        txid: int = await conn.fetchval("SELECT txid_current()")
        return txid

    return work


async def booked(pool: asyncpg.Pool) -> list[int]:
    return [row["n"] for row in await pool.fetch("SELECT n FROM booked ORDER BY n")]


async def test_concurrent_works_share_one_transaction(table: asyncpg.Pool) -> None:
    group = GroupCommit(pool=table)
    txids = await asyncio.gather(*(group.run(booking(n)) for n in range(20)))
    assert len(set(txids)) == 1  # all queued before the first transaction began
    assert await booked(table) == list(range(20))


async def test_a_refusal_spares_the_others(table: asyncpg.Pool) -> None:
    group = GroupCommit(pool=table)
    results = await asyncio.gather(
        *(group.run(booking(n, refuse=n == 3)) for n in range(6)), return_exceptions=True
    )
    assert isinstance(results[3], NotFound)
    assert len({r for i, r in enumerate(results) if i != 3}) == 1
    assert await booked(table) == [0, 1, 2, 4, 5]


async def test_a_failure_rolls_the_batch_back_and_each_runs_alone(table: asyncpg.Pool) -> None:
    group = GroupCommit(pool=table)
    await table.execute("INSERT INTO booked (n) VALUES (104)")  # 104 will violate the key
    works = [booking(n, crash=n == 102) for n in range(100, 106)]
    results = await asyncio.gather(*(group.run(w) for w in works), return_exceptions=True)
    assert isinstance(results[2], RuntimeError)
    assert isinstance(results[4], asyncpg.UniqueViolationError)
    ok = [r for i, r in enumerate(results) if i not in (2, 4)]
    assert len(set(ok)) == len(ok) == 4  # each in a transaction of its own, once
    assert await booked(table) == [100, 101, 103, 104, 105]


async def test_a_work_alone_runs_at_once_and_its_failure_is_its_own(
    table: asyncpg.Pool,
) -> None:
    group = GroupCommit(pool=table, max_batch=1)
    assert isinstance(await group.run(booking(1)), int)
    with pytest.raises(RuntimeError, match="bug after writing 2"):
        await group.run(booking(2, crash=True))
    assert await booked(table) == [1]


async def test_a_batch_locks_every_row_its_works_name_first_in_one_order(
    table: asyncpg.Pool,
) -> None:
    prelocked: list[list[str]] = []

    async def prelock(conn: asyncpg.Connection, keys: list[str]) -> None:
        prelocked.append(keys)

    group = GroupCommit(pool=table, prelock=prelock)
    names = [["w5"], ["w1", "w9"], ["w5", "w1"]]
    await asyncio.gather(*(group.run(booking(n), locks=locks) for n, locks in enumerate(names)))
    # One batch: each wallet once, sorted, before any work ran (whatever the arrival order).
    assert prelocked == [["w1", "w5", "w9"]]
    with pytest.raises(ValueError, match="prelock"):
        await GroupCommit(pool=table).run(booking(7), locks=["w1"])


async def test_a_cancelled_drain_answers_every_waiting_caller(table: asyncpg.Pool) -> None:
    started = asyncio.Event()

    async def slow(conn: asyncpg.Connection) -> int:
        started.set()
        await asyncio.Event().wait()  # never ends on its own
        return 0

    group = GroupCommit(pool=table)
    waiting = [asyncio.ensure_future(group.run(slow)), asyncio.ensure_future(group.run(slow))]
    await started.wait()
    later = asyncio.ensure_future(group.run(booking(1)))
    await asyncio.sleep(0)
    assert group._draining is not None
    group._draining.cancel()
    results = await asyncio.gather(*waiting, later, return_exceptions=True)
    assert all(isinstance(r, ServiceUnavailable) for r in results), results


async def test_each_work_runs_in_the_context_of_the_request_that_queued_it(
    table: asyncpg.Pool,
) -> None:
    # What a work reads of its request (its trace id, bound by the HTTP middleware) is its own,
    # whichever request's arrival started the batch.
    group = GroupCommit(pool=table)

    def traced(n: int) -> Work[tuple[str, int]]:
        async def work(conn: asyncpg.Connection) -> tuple[str, int]:
            await conn.execute("INSERT INTO booked (n) VALUES ($1)", n)
            txid: int = await conn.fetchval("SELECT txid_current()")
            return current_trace_id(), txid

        return work

    async def request(n: int) -> tuple[str, int]:
        structlog.contextvars.bind_contextvars(trace_id=f"trace-{n}")
        return await group.run(traced(n))

    results = await asyncio.gather(*(request(n) for n in range(5)))
    assert [trace_id for trace_id, _ in results] == [f"trace-{n}" for n in range(5)]
    assert len({txid for _, txid in results[1:]}) == 1  # the four behind the first: one batch
