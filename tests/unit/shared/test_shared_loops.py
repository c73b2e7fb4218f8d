"""The background-loop base: liveness, readiness checks, stopping, backoff (no I/O)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from wallet_shared.platform.loops import BackgroundLoop, loop_checks


class Ticker(BackgroundLoop):
    """Counts its passes; raises `failure` on the pass numbered `fail_on`."""

    def __init__(self, *, fail_on: int | None = None, stop_timeout_s: float = 10.0) -> None:
        super().__init__(name="ticker", service="unit", stop_timeout_s=stop_timeout_s)
        self.passes = 0
        self.fail_on = fail_on
        self.woken = False

    async def run(self) -> None:
        while not self.stopping:
            self.beat()
            self.passes += 1
            if self.passes == self.fail_on:
                raise RuntimeError("a bug")
            await self.pause(0.001)

    def on_stopping(self) -> None:
        self.woken = True


class Stubborn(BackgroundLoop):
    """Ignores `stopping`: only a cancellation ends it."""

    async def run(self) -> None:
        await asyncio.Event().wait()


def gauge(name: str, loop: str = "ticker", service: str = "unit") -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service, "loop": loop})


async def wait_for(condition: object, *, limit: int = 10_000) -> None:
    for _ in range(limit):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_a_running_loop_is_alive_ready_and_beats() -> None:
    ticker = Ticker()
    assert not ticker.alive
    assert not ticker.ready()
    async with ticker:
        await wait_for(lambda: ticker.passes >= 3)
        assert ticker.alive
        assert ticker.ready()
        assert await loop_checks([ticker])["ticker"]()
        assert gauge("wallet_loop_up") == 1
        assert (gauge("wallet_loop_heartbeat_timestamp_seconds") or 0) > 0
    assert ticker.woken
    assert not ticker.alive
    assert gauge("wallet_loop_up") == 0


async def test_a_loop_that_dies_is_no_longer_ready_and_stops_quietly() -> None:
    ticker = Ticker(fail_on=2)
    await ticker.start()
    await wait_for(lambda: not ticker.alive)
    assert not await loop_checks([ticker])["ticker"]()
    assert gauge("wallet_loop_up") == 0
    await ticker.stop()  # what it raised was logged when it died; stop does not raise it


async def test_a_loop_that_ignores_stop_is_cancelled_after_the_timeout() -> None:
    stubborn = Stubborn(name="stubborn", service="unit", stop_timeout_s=0.01)
    await stubborn.start()
    await asyncio.sleep(0)
    await stubborn.stop()
    assert not stubborn.alive


async def test_a_loop_starts_once() -> None:
    async with Ticker() as ticker:
        with pytest.raises(RuntimeError, match="already started"):
            await ticker.start()


async def test_back_off_returns_at_once_when_stopping() -> None:
    ticker = Ticker()
    ticker._stopping.set()
    assert await ticker.back_off("event", RuntimeError("x"), 60, base_s=60.0, cap_s=60.0)
