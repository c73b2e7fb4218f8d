"""Request coalescing: the client-side twin of group commit.

Callers `submit` one item each and await their own result. While `max_in_flight` batches are out,
items that arrive queue up; the next batch takes them all (up to `max_batch`), in arrival order.
Under load one call carries many items; alone, an item leaves at once, with no added wait.

`send` answers a batch with one outcome per item, in order: a result, or the exception (a
refusal, `WalletError`, or a failure) of that item alone. An exception raised by `send` itself
(the peer is away, answered nonsense) is every item's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from wallet_shared.contracts.errors import ServiceUnavailable

T = TypeVar("T")
R = TypeVar("R")
Send = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    answer: asyncio.Future[R]


class Coalescer(Generic[T, R]):
    """Sends concurrently submitted items together; see the module docstring."""

    def __init__(self, send: Send[T, R], *, max_batch: int = 64, max_in_flight: int = 2) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._send = send
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[_Waiting[T, R]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """`item`'s outcome: its result, or what it (or its whole batch) raised."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(item, answer))
        self._launch()
        return await answer

    def _launch(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            batch = self._queue[: self._max_batch]
            self._queue = self._queue[self._max_batch :]
            task = asyncio.create_task(self._deliver(batch), name="coalesced-send")
            self._in_flight.add(task)
            task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._launch()  # what queued while this batch was out leaves now

    async def _deliver(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            outcomes = await self._send([waiting.item for waiting in batch])
            if len(outcomes) != len(batch):
                raise ValueError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except asyncio.CancelledError:
            # The process stops: nobody may wait forever for an answer.
            _fail(batch, ServiceUnavailable("The service is stopping; retry."))
            raise
        except Exception as error:
            _fail(batch, error)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.answer.done():
                continue  # its caller went away (cancelled)
            if isinstance(outcome, Exception):
                waiting.answer.set_exception(outcome)
            else:
                waiting.answer.set_result(outcome)


def _fail(batch: list[_Waiting[T, R]], error: BaseException) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
