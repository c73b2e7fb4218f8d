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
from wallet_shared.platform.loops import BackgroundLoop

from transfer_coordinator.adapters.repository import FINAL_CHANNEL, parse_final_notice
from transfer_coordinator.settings import SERVICE

_HEARTBEAT_S = 5.0


class FinalStatusListener(BackgroundLoop):
    """Calls `on_final(transfer_id, announcer)` for each transfer announced final on
    `transfer_final` (announcer: who sent the notice, when it named itself)."""

    def __init__(
        self,
        *,
        dsn: str,
        on_final: Callable[[str, str | None], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        super().__init__(name="final_status_listener", service=SERVICE)
        self._dsn = dsn
        self._on_final = on_final
        self._on_reconnect = on_reconnect
        self._listening = asyncio.Event()
        self._lost = asyncio.Event()

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Start listening; returns once the first LISTEN is in place."""
        await super().start()
        try:
            await asyncio.wait_for(self._listening.wait(), timeout_s)
        except TimeoutError:
            await self.stop()
            raise

    def ready(self) -> bool:
        """Alive and holding its LISTEN connection (waiters depend on it)."""
        return self.alive and self._listening.is_set() and not self._lost.is_set()

    def on_stopping(self) -> None:
        self._lost.set()

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            started = time.monotonic()
            try:
                await self._listen_until_lost()
            except Exception as error:  # the listener must outlive any failure
                # Reset once a connection lived long enough to be useful.
                failures = 1 if time.monotonic() - started > 60 else failures + 1
                if not self.stopping:
                    await self.back_off("final_listener_lost", error, failures, cap_s=5.0)

    async def _listen_until_lost(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        self._lost.clear()
        try:
            conn.add_termination_listener(lambda _conn: self._lost.set())
            await conn.add_listener(FINAL_CHANNEL, self._notified)
            if self._listening.is_set():
                self._on_reconnect()
            self._listening.set()
            while not (self._lost.is_set() or self.stopping):
                self.beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), _HEARTBEAT_S)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        if not self.stopping:
            raise OSError("LISTEN connection closed")

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._on_final(*parse_final_notice(str(payload)))
