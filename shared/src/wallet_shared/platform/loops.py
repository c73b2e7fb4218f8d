"""The one shape of every background loop (outbox relay, consumers, sweeper, listeners).

A `BackgroundLoop` runs its `run()` in a task from `start()` to `stop()`, backs off the same way
after errors, beats a heartbeat that `/metrics` exports, and tells readiness whether it is alive:
a loop whose task ended by itself (a bug, an error nothing caught) makes its service not ready,
named, instead of leaving a process that answers HTTP while it no longer moves money.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import Iterable, Mapping

import structlog

from wallet_shared.platform.backoff import backoff_delay
from wallet_shared.platform.lifecycle import StartStop
from wallet_shared.platform.metrics import LOOP_HEARTBEAT, LOOP_UP
from wallet_shared.platform.readiness import ReadinessCheck

_log = structlog.get_logger(__name__)


class BackgroundLoop(StartStop):
    """A long-running task with start/stop, backoff, a heartbeat and a liveness verdict.

    Subclasses implement `run()`: a loop that returns once `stopping` is set, calls `beat()` on
    every pass, and waits with `pause()` or `back_off()` so that `stop()` interrupts it at once.
    """

    def __init__(self, *, name: str, service: str, stop_timeout_s: float = 10.0) -> None:
        self.name = name
        self.service = service
        self._stop_timeout_s = stop_timeout_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run(self) -> None:
        """The loop itself; returns when `stopping` is set."""

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has been asked for."""
        return self._stopping.is_set()

    @property
    def alive(self) -> bool:
        """Whether the loop's task runs (started, not stopped, not ended by itself)."""
        return self._task is not None and not self._task.done()

    def ready(self) -> bool:
        """Whether the loop is doing its work; subclasses add their own conditions."""
        return self.alive

    async def start(self) -> None:
        """Start the loop's task."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} already started")
        self._stopping.clear()
        self._task = asyncio.create_task(self._guarded(), name=self.name)

    async def stop(self) -> None:
        """Ask the loop to stop and wait for it; after `stop_timeout_s` its task is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self.on_stopping()
        # asyncio.wait neither raises what the task raised nor cancels it on a timeout.
        await asyncio.wait({task}, timeout=self._stop_timeout_s)
        if not task.done():
            _log.warning("loop_stop_timeout", loop=self.name, service=self.service)
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: a death was logged when it happened

    def on_stopping(self) -> None:
        """Called once when a stop is asked for: wake whatever the loop waits on."""

    def beat(self) -> None:
        """Record that the loop is making progress (the heartbeat metric)."""
        LOOP_HEARTBEAT.labels(self.service, self.name).set_to_current_time()

    async def pause(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopped first; returns whether the loop is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def back_off(
        self,
        event: str,
        error: BaseException,
        failures: int,
        *,
        base_s: float = 0.1,
        cap_s: float = 5.0,
        **context: object,
    ) -> bool:
        """Log failure number `failures` as `event`, then wait before the next try (exponential,
        with jitter); returns whether the loop is stopping."""
        _log.warning(
            event,
            loop=self.name,
            service=self.service,
            error=f"{type(error).__name__}: {error}",
            failures=failures,
            **context,
        )
        return await self.pause(backoff_delay(failures, base_s=base_s, cap_s=cap_s))

    async def _guarded(self) -> None:
        LOOP_UP.labels(self.service, self.name).set(1)
        self.beat()
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except BaseException:
            _log.exception("loop_died", loop=self.name, service=self.service)
            raise
        finally:
            LOOP_UP.labels(self.service, self.name).set(0)


def loop_checks(loops: Iterable[BackgroundLoop]) -> Mapping[str, ReadinessCheck]:
    """One readiness check per loop, named after it."""
    return {loop.name: _check(loop) for loop in loops}


def _check(loop: BackgroundLoop) -> ReadinessCheck:
    async def ready() -> bool:
        return loop.ready()

    return ready
