"""Set-based group commit: the requests that arrive together reach one handler call in one
transaction; a refusal is its request's alone; a batch that fails otherwise is booked again one
request at a time, so that one bad request never fails the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from wallet_shared.contracts.errors import NotFound, TransientError, WalletError
from wallet_shared.platform.batch_commit import BatchCommit


@dataclass
class Ledger:
    """A stand-in database: what each committed transaction booked."""

    committed: list[list[int]] = field(default_factory=list)
    rolled_back: int = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[list[int]]:
        booked: list[int] = []
        try:
            yield booked
        except BaseException:
            self.rolled_back += 1
            raise
        self.committed.append(booked)


async def book(booked: list[int], batch: list[int]) -> Sequence[int | WalletError]:
    """Books each even number, refuses odd ones, fails (a bug) on a negative one."""
    await asyncio.sleep(0)  # the database round trip
    outcomes: list[int | WalletError] = []
    for number in batch:
        if number < 0:
            raise RuntimeError("a bug")
        if number % 2:
            outcomes.append(NotFound(f"no {number}"))
        else:
            booked.append(number)
            outcomes.append(number * 10)
    return outcomes


async def test_requests_that_arrive_together_share_one_transaction() -> None:
    ledger = Ledger()
    desk: BatchCommit[list[int], int, int] = BatchCommit(ledger, book, max_in_flight=1)
    results = await asyncio.gather(*(desk.submit(n) for n in (2, 4, 6, 8)), return_exceptions=True)
    assert results == [20, 40, 60, 80]
    assert ledger.committed == [[2], [4, 6, 8]]  # alone at once; the rest formed meanwhile


async def test_a_refusal_is_its_requests_alone() -> None:
    ledger = Ledger()
    desk: BatchCommit[list[int], int, int] = BatchCommit(ledger, book, max_in_flight=1)
    results = await asyncio.gather(*(desk.submit(n) for n in (2, 3, 4)), return_exceptions=True)
    assert results[0::2] == [20, 40]
    assert isinstance(results[1], NotFound)
    assert ledger.committed == [[2], [4]]
    assert ledger.rolled_back == 0


async def test_a_failing_batch_is_booked_again_one_request_at_a_time() -> None:
    ledger = Ledger()
    desk: BatchCommit[list[int], int, int] = BatchCommit(ledger, book, max_in_flight=1)
    results = await asyncio.gather(*(desk.submit(n) for n in (2, 4, -1, 6)), return_exceptions=True)
    assert results[:2] == [20, 40]
    assert isinstance(results[2], RuntimeError)
    assert results[3] == 60
    # [2] alone; [4, -1, 6] rolled back, then 4, -1 (rolled back again) and 6 each alone.
    assert ledger.committed == [[2], [4], [6]]
    assert ledger.rolled_back == 2


async def test_when_the_database_fails_every_request_of_the_batch_is_told_at_once() -> None:
    ledger = Ledger()
    calls: list[list[int]] = []

    async def database_away(booked: list[int], batch: list[int]) -> Sequence[int | WalletError]:
        calls.append(batch)
        raise TransientError("connection lost")

    desk: BatchCommit[list[int], int, int] = BatchCommit(ledger, database_away, max_in_flight=1)
    results = await asyncio.gather(*(desk.submit(n) for n in (2, 4, 6)), return_exceptions=True)
    assert all(isinstance(result, TransientError) for result in results)
    assert calls == [[2], [4, 6]]  # not booked again one at a time: no request is to blame


async def test_a_handler_that_answers_for_too_few_commits_nothing() -> None:
    ledger = Ledger()

    async def forgetful(booked: list[int], batch: list[int]) -> Sequence[int | WalletError]:
        booked.extend(batch)
        return []

    desk: BatchCommit[list[int], int, int] = BatchCommit(ledger, forgetful)
    with pytest.raises(ValueError, match="0 outcomes for a batch of 1"):
        await desk.submit(1)
    assert ledger.committed == []
