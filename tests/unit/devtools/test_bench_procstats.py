"""CPU and memory arithmetic of the benchmark, on /proc texts it is handed (no /proc read)."""

from __future__ import annotations

import pytest
from wallet_devtools.bench.procstats import (
    OTHER,
    CpuReading,
    ProcStat,
    TrackedProcess,
    cpu_ms_per_op,
    descendants,
    group_ticks,
    parse_machine_busy,
    parse_peak_rss_kib,
    parse_stat,
)


def _stat_line(pid: int, comm: str, ppid: int, times: tuple[int, int, int, int]) -> str:
    utime, stime, cutime, cstime = times
    middle = " ".join(["0"] * 9)  # fields 5..13 of proc(5): pgrp .. cmajflt
    return f"{pid} ({comm}) S {ppid} {middle} {utime} {stime} {cutime} {cstime} 20 0 1 0"


def test_the_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(_stat_line(42, "postgres: wal (writer) )", 7, (11, 22, 33, 44)))
    assert stat == ProcStat(pid=42, ppid=7, utime=11, stime=22, cutime=33, cstime=44)


def test_peak_rss_is_the_vmhwm_line() -> None:
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmHWM:\t  81234 kB\nVmRSS:\t 80000 kB\n"
    assert parse_peak_rss_kib(status) == 81234
    assert parse_peak_rss_kib("Name:\tkthreadd\n") is None


def test_machine_busy_time_leaves_out_idle_and_iowait() -> None:
    text = "cpu  100 5 50 1000 30 1 2 3 7 0\ncpu0 50 2 25 500 15 0 1 1 0 0\n"
    assert parse_machine_busy(text) == 100 + 5 + 50 + 1 + 2 + 3


def _stats(*entries: tuple[int, int, int]) -> dict[int, ProcStat]:
    """(pid, ppid, own ticks) with half in utime, half in stime."""
    return {
        pid: ProcStat(pid, ppid, ticks // 2, ticks - ticks // 2, 0, 0)
        for pid, ppid, ticks in entries
    }


def test_a_group_is_its_root_and_every_process_below_it() -> None:
    stats = _stats((1, 0, 5), (10, 1, 100), (11, 10, 7), (12, 11, 3), (20, 1, 50))
    assert descendants(stats, 10) == {10, 11, 12}
    assert group_ticks(stats, TrackedProcess("postgres", 10)) == 110
    assert group_ticks(stats, TrackedProcess("bench-client", 10, with_children=False)) == 100
    assert group_ticks(stats, TrackedProcess("gone", 99)) == 0


def test_a_child_that_exited_between_readings_is_still_counted_through_its_parent() -> None:
    backend_alive = {
        10: ProcStat(10, 1, 100, 0, 0, 0),
        11: ProcStat(11, 10, 40, 10, 0, 0),
    }
    # The postmaster spent 20 more ticks; the backend 35 more (85 in all), then exited and
    # was reaped: its 85 ticks now sit in the postmaster's cutime + cstime.
    backend_reaped = {10: ProcStat(10, 1, 120, 0, 70, 15)}
    postmaster = TrackedProcess("postgres", 10)
    assert group_ticks(backend_reaped, postmaster) - group_ticks(backend_alive, postmaster) == 55


def test_cpu_per_operation_divides_each_group_s_ticks_by_the_operations() -> None:
    before = CpuReading(groups={"gateway": 1000, "kafka": 500}, machine_busy=10_000)
    after = CpuReading(groups={"gateway": 1100, "kafka": 550}, machine_busy=10_400)
    figures = cpu_ms_per_op(before, after, operations=50, ticks_per_s=100)
    # gateway: 100 ticks = 1 s over 50 operations
    assert figures["gateway"] == pytest.approx(20.0)
    assert figures["kafka"] == pytest.approx(10.0)
    assert figures["total"] == pytest.approx(30.0)
    # the machine was busy 400 ticks, our processes 150: the rest was someone else's
    assert figures[OTHER] == pytest.approx(50.0)


def test_a_group_that_vanished_or_no_operation_never_gives_a_negative_or_infinite_figure() -> None:
    before = CpuReading(groups={"shard-0": 300}, machine_busy=1000)
    after = CpuReading(groups={}, machine_busy=1000)
    figures = cpu_ms_per_op(before, after, operations=0, ticks_per_s=100)
    assert figures == {"shard-0": 0.0, "total": 0.0, OTHER: 0.0}
