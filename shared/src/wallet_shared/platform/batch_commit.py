"""Set-based group commit: the requests that arrive together are booked by ONE handler call, in
one transaction, with a fixed number of statements whatever their number.

`GroupCommit` shares a transaction between works that each still send their own statements; here
the handler sees the whole batch at once (lock every row it names in one statement, read what it
needs in one, book in memory, write each table in one), which is what makes a batch cheap for the
database and for this process. Requests queue while `max_in_flight` batches are out, and the
next batch takes them all (`wallet_shared.platform.coalesce`); alone, a request leaves at once.

The handler answers each request with a result or its refusal (`WalletError`), raised before it
changed anything. Any other failure rolls the batch back, and each of its requests is then booked
alone, in a transaction of its own, so that one bad request never fails the others; but when the
database failed (`TransientError`) every request of the batch is told so at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, Protocol, TypeVar

import structlog

from wallet_shared.contracts.errors import TransientError, WalletError
from wallet_shared.platform.coalesce import Coalescer

T = TypeVar("T")
R = TypeVar("R")
Tx = TypeVar("Tx")
Tx_co = TypeVar("Tx_co", covariant=True)
Handler = Callable[[Tx, list[T]], Awaitable[Sequence[R | WalletError]]]


class Transactions(Protocol[Tx_co]):
    """What opens the batches' transactions (`wallet_shared.platform.unit_of_work.UnitOfWork`)."""

    def transaction(self) -> AbstractAsyncContextManager[Tx_co]: ...


_log = structlog.get_logger(__name__)


class BatchCommit(Generic[Tx, T, R]):
    """Books concurrently submitted requests together with `handle`; see the module docstring."""

    def __init__(
        self,
        uow: Transactions[Tx],
        handle: Handler[Tx, T, R],
        *,
        max_batch: int = 64,
        max_in_flight: int = 2,
    ) -> None:
        self._uow = uow
        self._handle = handle
        self._requests: Coalescer[T, R] = Coalescer(
            self._book, max_batch=max_batch, max_in_flight=max_in_flight
        )

    async def submit(self, request: T) -> R:
        """`request`'s result once its batch committed, or its refusal, or what failed it."""
        return await self._requests.submit(request)

    async def _book(self, batch: list[T]) -> Sequence[R | Exception]:
        try:
            return await self._together(batch)
        except TransientError:
            raise  # the database failed, not a request: every request is told to retry
        except Exception as error:
            if len(batch) == 1:
                raise
            _log.warning(
                "batch_commit_failed", size=len(batch), error=f"{type(error).__name__}: {error}"
            )
        return [await self._alone(request) for request in batch]

    async def _alone(self, request: T) -> R | Exception:
        try:
            (outcome,) = await self._together([request])
        except Exception as error:  # this request's failure is its own answer
            return error
        return outcome

    async def _together(self, batch: list[T]) -> Sequence[R | WalletError]:
        async with self._uow.transaction() as tx:
            outcomes = await self._handle(tx, batch)
            if len(outcomes) != len(batch):  # a bug: nothing of it may commit
                raise ValueError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        return outcomes
