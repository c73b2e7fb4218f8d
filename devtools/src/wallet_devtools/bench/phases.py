"""Running one phase: its load, its measured window, the CPU read around it, its progress bar.

Each phase warms up for `warmup_s` (load on, nothing counted), is measured for `duration_s`,
then stops sending and lets what is in flight finish. The CPU of every tracked process is read
at the two edges of the measured window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass

from rich.progress import Progress, TaskID

from wallet_devtools.bench import procstats
from wallet_devtools.bench.load import Operation, Recorder, closed_loop, open_loop
from wallet_devtools.bench.stats import OK, Window, arrival_schedule

_TICK_S = 0.25
_OPEN_LOOP_MAX_IN_FLIGHT = 512


@dataclass(frozen=True)
class PhaseRun:
    """What one stream of a phase recorded; `cpu_ms_per_op` is None for a stream measured
    beside another (balance reads beside the half-load transfers share their CPU figures)."""

    name: str
    recorder: Recorder
    window: Window
    began: float  # when its load started, warm-up included
    ended: float  # when its last request answered
    cpu_ms_per_op: dict[str, float] | None
    offered_rate: float | None = None  # arrivals per second of an open loop


@dataclass(frozen=True)
class OpenStream:
    name: str
    operation: Operation
    rate_per_s: float


class PhaseRunner:
    """Runs phases one after the other with a progress bar each."""

    def __init__(
        self,
        *,
        progress: Progress,
        tracked: Sequence[procstats.TrackedProcess],
        warmup_s: float,
        duration_s: float,
    ) -> None:
        self._progress = progress
        self._tracked = list(tracked)
        self._warmup_s = warmup_s
        self._duration_s = duration_s

    async def warm_up(self, operation: Operation, *, concurrency: int, seconds: float) -> None:
        """`concurrency` requests in flight for `seconds`, nothing measured: a fresh system's
        processes reach their steady pace (the broker's JIT compiler, the caches, the
        database's statistics) before the first phase."""
        began = time.perf_counter()
        window = Window(began + seconds, began + seconds)  # shown as warming up throughout
        recorder = Recorder()
        task = self._progress.add_task("warm-up", total=seconds, status="")
        ticker = asyncio.create_task(self._tick(task, window, [recorder]))
        try:
            await closed_loop(
                operation, concurrency=concurrency, stop_at=window.end, recorder=recorder
            )
        finally:
            ticker.cancel()
        self._show(task, window, [recorder], finished=True)

    async def closed(self, name: str, operation: Operation, *, concurrency: int) -> PhaseRun:
        """`concurrency` requests in flight all along."""
        began = time.perf_counter()
        window = self._window(began)
        recorder = Recorder()
        load = closed_loop(
            operation, concurrency=concurrency, stop_at=window.end, recorder=recorder
        )
        cpu = await self._measured(name, window, load, [recorder])
        return PhaseRun(name, recorder, window, began, time.perf_counter(), cpu)

    async def open(self, streams: Sequence[OpenStream]) -> list[PhaseRun]:
        """Every stream at its fixed arrival rate, side by side; the CPU figures go to the
        first stream, divided by the operations of all of them."""
        began = time.perf_counter()
        window = self._window(began)
        recorders = [Recorder() for _ in streams]
        loads = [
            open_loop(
                stream.operation,
                schedule=arrival_schedule(began, stream.rate_per_s, window.end - began),
                recorder=recorder,
                max_in_flight=_OPEN_LOOP_MAX_IN_FLIGHT,
            )
            for stream, recorder in zip(streams, recorders, strict=True)
        ]
        cpu = await self._measured(streams[0].name, window, asyncio.gather(*loads), recorders)
        ended = time.perf_counter()
        return [
            PhaseRun(s.name, r, window, began, ended, cpu if n == 0 else None, s.rate_per_s)
            for n, (s, r) in enumerate(zip(streams, recorders, strict=True))
        ]

    def _window(self, began: float) -> Window:
        return Window(began + self._warmup_s, began + self._warmup_s + self._duration_s)

    async def _measured(
        self, name: str, window: Window, load: Awaitable[object], recorders: Sequence[Recorder]
    ) -> dict[str, float]:
        task = self._progress.add_task(name, total=window.end - time.perf_counter(), status="")
        readings = asyncio.create_task(self._read_cpu_at_edges(window))
        ticker = asyncio.create_task(self._tick(task, window, recorders))
        try:
            await load
            before, after = await readings
        finally:
            readings.cancel()
            ticker.cancel()
        self._show(task, window, recorders, finished=True)
        operations = sum(_ok_in(window, r) for r in recorders)
        return procstats.cpu_ms_per_op(before, after, operations, procstats.ticks_per_second())

    async def _read_cpu_at_edges(
        self, window: Window
    ) -> tuple[procstats.CpuReading, procstats.CpuReading]:
        await _sleep_until(window.start)
        before = procstats.read_cpu(self._tracked)
        await _sleep_until(window.end)
        return before, procstats.read_cpu(self._tracked)

    async def _tick(self, task: TaskID, window: Window, recorders: Sequence[Recorder]) -> None:
        while True:
            self._show(task, window, recorders, finished=False)
            await asyncio.sleep(_TICK_S)

    def _show(
        self, task: TaskID, window: Window, recorders: Iterable[Recorder], *, finished: bool
    ) -> None:
        now = time.perf_counter()
        ok = sum(r.ok for r in recorders)
        failed = sum(r.failed for r in recorders)
        recent = sum(_ok_in(Window(now - 1.0, now), r) for r in recorders)
        stage = "done" if finished else _stage(window, now)
        total = self._progress.tasks[task].total or 0.0
        self._progress.update(
            task,
            completed=total if finished else min(total, total - (window.end - now)),
            status=f"{stage:<9} {ok:>7} ok  {recent:>5}/s  {failed} errors",
        )


def _ok_in(window: Window, recorder: Recorder) -> int:
    # Samples are recorded as they finish: walk back only as far as the window reaches.
    count = 0
    for sample in reversed(recorder.samples):
        if sample.finished < window.start:
            break
        if sample.outcome == OK and window.holds(sample.finished):
            count += 1
    return count


async def _sleep_until(instant: float) -> None:
    delay = instant - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _stage(window: Window, now: float) -> str:
    if now < window.start:
        return "warm-up"
    return "measuring" if now < window.end else "draining"
