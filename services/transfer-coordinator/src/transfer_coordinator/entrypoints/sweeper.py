"""The sweeper task: a pass every `sweep_interval_s`, back to back while there is a backlog."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from wallet_shared.backoff import backoff_delay

from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.sweeper import sweep_once

_log = structlog.get_logger(__name__)


class SagaSweeper:
    """Runs `sweep_once` in the background until stopped."""

    def __init__(self, *, ctx: CoordinatorContext, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._ctx = ctx
        self._interval_s = interval_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("sweeper already started")
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="saga-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(task, 10.0)
        except TimeoutError:
            _log.warning("sweeper_stop_timeout")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            pause = self._interval_s
            try:
                result = await sweep_once(self._ctx)
                failures = 0
                if result.more:
                    pause = 0.0
            except Exception as error:  # the database may be away: try again later
                failures += 1
                pause = max(pause, backoff_delay(failures, base_s=0.5, cap_s=10.0))
                _log.warning("sweep_failed", error=f"{type(error).__name__}: {error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
