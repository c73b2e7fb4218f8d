"""The LISTEN side of `transfer_final`: one dedicated connection per process.

It is not taken from the pool (it stays open for the life of the process). When it drops, it is
opened again with backoff, and `on_reconnect` runs: notifications sent meanwhile are lost, so
whoever waits must re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from wallet_shared.backoff import backoff_delay

from transfer_coordinator.adapters.repository import FINAL_CHANNEL

_log = structlog.get_logger(__name__)


class FinalStatusListener:
    """Calls `on_final(transfer_id)` for each transfer announced final on `transfer_final`."""

    def __init__(
        self,
        *,
        dsn: str,
        on_final: Callable[[str], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._dsn = dsn
        self._on_final = on_final
        self._on_reconnect = on_reconnect
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Start listening; returns once the first LISTEN is in place."""
        if self._task is not None:
            raise RuntimeError("listener already started")
        self._task = asyncio.create_task(self._run(), name="transfer-final-listener")
        await asyncio.wait_for(self._listening.wait(), timeout_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self._listen_until_lost()
            except Exception as error:  # the listener must outlive any failure
                # Reset once a connection lived long enough to be useful.
                failures = 1 if time.monotonic() - started > 60 else failures + 1
                _log.warning("final_listener_lost", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(backoff_delay(failures, base_s=0.1, cap_s=5.0))

    async def _listen_until_lost(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(FINAL_CHANNEL, self._notified)
            if self._listening.is_set():
                self._on_reconnect()
            self._listening.set()
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        raise OSError("LISTEN connection closed")

    def _notified(self, _conn: Any, _pid: int, _channel: str, transfer_id: object) -> None:
        self._on_final(str(transfer_id))
