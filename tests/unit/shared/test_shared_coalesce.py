"""Coalescing: concurrent submissions share one send, each gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest
from wallet_shared.contracts.errors import IdempotencyKeyReused, ServiceUnavailable, WalletError
from wallet_shared.platform.coalesce import Coalescer


class GatedSend:
    """A peer that answers each batch only when the test opens its gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.failure: Exception | None = None
        self._arrived = asyncio.Condition()

    async def __call__(self, items: list[int]) -> list[int | WalletError]:
        self.batches.append(list(items))
        async with self._arrived:
            self._arrived.notify_all()
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.failure is not None:
            raise self.failure
        return [IdempotencyKeyReused("odd") if item % 2 else item * 10 for item in items]

    async def sent(self, count: int) -> None:
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.batches) >= count)


async def test_alone_an_item_leaves_at_once_and_gets_its_result() -> None:
    send = GatedSend()
    coalescer: Coalescer[int, int] = Coalescer(send)
    pending = asyncio.create_task(coalescer.submit(4))
    await send.sent(1)
    send.gates[0].set()
    assert await pending == 40
    assert send.batches == [[4]]


async def test_items_that_arrive_while_batches_are_out_travel_together_in_order() -> None:
    send = GatedSend()
    coalescer: Coalescer[int, int] = Coalescer(send, max_in_flight=1, max_batch=3)
    first = asyncio.create_task(coalescer.submit(0))
    await send.sent(1)
    later = [asyncio.create_task(coalescer.submit(item)) for item in (2, 4, 6, 8)]
    await asyncio.sleep(0)
    assert send.batches == [[0]]  # nothing else leaves while the one allowed batch is out
    send.gates[0].set()
    await send.sent(2)
    assert send.batches[1] == [2, 4, 6]  # max_batch
    send.gates[1].set()
    await send.sent(3)
    send.gates[2].set()
    assert await first == 0
    assert [await task for task in later] == [20, 40, 60, 80]
    assert send.batches == [[0], [2, 4, 6], [8]]


async def test_a_refusal_is_its_items_alone() -> None:
    send = GatedSend()
    coalescer: Coalescer[int, int] = Coalescer(send, max_in_flight=1)
    blocker = asyncio.create_task(coalescer.submit(2))
    await send.sent(1)
    odd, even = asyncio.create_task(coalescer.submit(3)), asyncio.create_task(coalescer.submit(6))
    await asyncio.sleep(0)
    send.gates[0].set()
    await send.sent(2)
    send.gates[1].set()
    assert await blocker == 20
    with pytest.raises(IdempotencyKeyReused):
        await odd
    assert await even == 60


async def test_a_failed_send_is_every_items_answer() -> None:
    send = GatedSend()
    coalescer: Coalescer[int, int] = Coalescer(send, max_in_flight=1)
    blocker = asyncio.create_task(coalescer.submit(0))
    await send.sent(1)
    tasks = [asyncio.create_task(coalescer.submit(item)) for item in (2, 4)]
    await asyncio.sleep(0)
    send.gates[0].set()
    assert await blocker == 0
    await send.sent(2)
    assert send.batches[1] == [2, 4]
    send.failure = ServiceUnavailable("away")
    send.gates[1].set()
    for task in tasks:
        with pytest.raises(ServiceUnavailable):
            await task


async def test_a_batch_cancelled_in_flight_answers_503_and_the_next_still_leaves() -> None:
    send = GatedSend()
    coalescer: Coalescer[int, int] = Coalescer(send, max_in_flight=1)
    waiting = asyncio.create_task(coalescer.submit(2))
    await send.sent(1)
    queued = asyncio.create_task(coalescer.submit(4))
    (in_flight,) = coalescer._in_flight
    in_flight.cancel()
    with pytest.raises(ServiceUnavailable):
        await waiting
    await send.sent(2)
    send.gates[1].set()
    assert await queued == 40


def test_limits_are_checked() -> None:
    send = GatedSend()
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(send, max_batch=0)
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(send, max_in_flight=0)
