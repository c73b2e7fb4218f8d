"""Group commit: the database work of concurrent requests shares one transaction.

A request hands its work (a coroutine function of the connection) to `GroupCommit.run` and awaits
its own result. While one transaction runs, the requests that arrive meanwhile queue up; the next
transaction takes them all, in arrival order. Under load one commit (one WAL flush, one BEGIN and
COMMIT) serves many requests; alone, a request runs at once, with no added wait.

Works that lock rows name them (`locks`): the batch locks every row its works name first, in one
sorted order (`prelock`), before any work runs. Each work locking its own rows in order is not
enough once several share a transaction: the batch would collect them in arrival order, and meet
another writer that takes the same rows sorted in a lock cycle.

A work must raise its refusals (`WalletError`) before its first write: a refusal then leaves the
transaction usable and the others of the batch go on. Any other failure rolls the whole batch
back, and each of its works runs again alone, in a transaction of its own, so that one bad request
never fails the others (works re-read what they need, so running again is safe).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
import structlog

from wallet_shared.contracts.errors import ServiceUnavailable, WalletError
from wallet_shared.platform.db import transaction

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]
Prelock = Callable[[asyncpg.Connection, list[str]], Awaitable[None]]
"""Locks the named rows, in the order given (sorted), inside the batch's transaction."""

_log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Queued(Generic[T]):
    work: Work[T]
    answer: asyncio.Future[T]
    locks: tuple[str, ...] = ()
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The context of the request that queued it: the work runs in it, so that what it reads
    of its request (the trace id of its events, audit rows and logs) is its own, not that of
    the request whose arrival started the batch."""


class _BatchFailed(Exception):
    """A work of the batch failed otherwise than by a refusal: the batch is rolled back."""


class GroupCommit:
    """Runs concurrent works in shared transactions on `pool`; see the module docstring."""

    def __init__(
        self, *, pool: asyncpg.Pool, max_batch: int = 64, prelock: Prelock | None = None
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._pool = pool
        self._max_batch = max_batch
        self._prelock = prelock
        self._queue: list[_Queued[Any]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, work: Work[T], *, locks: Sequence[str] = ()) -> T:
        """Run `work` in a transaction shared with the works queued beside it; its result, or
        what it raised (a `TransientError` when the database failed). `locks`: the rows the
        work will lock (locked first, with every other work's, in sorted order)."""
        if locks and self._prelock is None:
            raise ValueError("this group commit locks nothing: give it a prelock")
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(work, answer, tuple(locks)))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="group-commit")
        return await answer

    async def _drain(self) -> None:
        batch: list[_Queued[Any]] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                self._queue = self._queue[self._max_batch :]
                try:
                    await self._commit_together(batch)
                except _BatchFailed:
                    for queued in batch:
                        await self._commit_together([queued])
                except Exception as error:  # the transaction failed (the database is away)
                    _fail(batch, error)
        finally:
            # Cancelled (the process stops): nobody may wait forever for an answer.
            stopped = ServiceUnavailable("The service is stopping; retry.")
            _fail([*batch, *self._queue], stopped)
            self._queue = []

    async def _commit_together(self, batch: list[_Queued[Any]]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            async with transaction(self._pool) as conn:
                locks = sorted({key for queued in batch for key in queued.locks})
                if locks and self._prelock is not None:
                    await self._prelock(conn, locks)
                for queued in batch:
                    results.append(await _attempt(queued, conn, alone=len(batch) == 1))
        except _BatchFailed:
            raise
        except Exception as error:  # the commit failed, or the work of a batch of one
            if len(batch) > 1:
                raise _BatchFailed from error
            _fail(batch, error)
            return
        for queued, (ok, value) in zip(batch, results, strict=True):
            if queued.answer.done():
                continue  # its caller went away (cancelled)
            if ok:
                queued.answer.set_result(value)
            else:
                queued.answer.set_exception(value)


async def _attempt(
    queued: _Queued[Any], conn: asyncpg.Connection, *, alone: bool
) -> tuple[bool, Any]:
    """(True, result), or (False, the refusal it raised); any other failure of a work that is
    not alone in its batch fails the batch."""
    try:
        # A task of its own, in its request's context (awaited at once: the works of a batch
        # still run one after the other on the connection).
        return True, await asyncio.create_task(queued.work(conn), context=queued.context)
    except WalletError as refusal:
        return False, refusal
    except Exception as error:
        if alone:
            raise
        _log.warning("group_commit_batch_failed", error=f"{type(error).__name__}: {error}")
        raise _BatchFailed from error


def _fail(batch: list[_Queued[Any]], error: BaseException) -> None:
    for queued in batch:
        if not queued.answer.done():
            queued.answer.set_exception(error)
