"""The load loops: an open loop counts latency from the schedule, not from the send."""

from __future__ import annotations

import asyncio
import io
import time

from rich.console import Console
from rich.progress import Progress
from wallet_devtools.bench.load import Recorder, closed_loop, open_loop
from wallet_devtools.bench.phases import PhaseRunner
from wallet_devtools.bench.stats import OK


async def _answer_at_once() -> str:
    return OK


async def test_an_open_loop_behind_its_schedule_counts_the_delay_as_latency() -> None:
    now = time.perf_counter()
    recorder = Recorder()
    # Both arrivals are already overdue: they are sent at once, but began when scheduled.
    await open_loop(
        _answer_at_once, schedule=[now - 2.0, now - 1.0], recorder=recorder, max_in_flight=1
    )
    assert [round(s.began - now, 6) for s in recorder.samples] == [-2.0, -1.0]
    assert all(s.latency_s >= 1.0 for s in recorder.samples)
    assert recorder.ok == 2


async def test_a_closed_loop_past_its_end_sends_nothing() -> None:
    recorder = Recorder()
    await closed_loop(
        _answer_at_once, concurrency=4, stop_at=time.perf_counter() - 1, recorder=recorder
    )
    assert recorder.samples == []


async def test_the_recorder_counts_successes_and_errors_for_the_progress_display() -> None:
    recorder = Recorder()
    calls = iter([OK, "error:503", "cancelled"])

    async def answer() -> str:
        return next(calls)

    now = time.perf_counter()
    await open_loop(
        answer, schedule=[now - 3, now - 2, now - 1], recorder=recorder, max_in_flight=8
    )
    assert (recorder.ok, recorder.failed, len(recorder.samples)) == (1, 1, 3)


async def test_the_warm_up_keeps_requests_in_flight_and_leaves_none_behind() -> None:
    sent: list[float] = []
    in_flight = 0

    async def answer() -> str:
        nonlocal in_flight
        sent.append(time.perf_counter())
        in_flight += 1
        await asyncio.sleep(0)
        in_flight -= 1
        return OK

    with Progress(console=Console(file=io.StringIO())) as progress:
        runner = PhaseRunner(progress=progress, tracked=[], warmup_s=0.0, duration_s=1.0)
        await runner.warm_up(answer, concurrency=3, seconds=0.05)
        ended = time.perf_counter()
    assert sent  # load was on
    assert in_flight == 0  # every request answered before it returned
    assert max(sent) <= ended
