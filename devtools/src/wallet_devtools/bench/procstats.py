"""CPU time and peak memory of the processes under test, read from /proc (Linux).

A *process group* here is what the report calls one process: the gateway, each shard, the
coordinator, the Kafka broker, PostgreSQL (the postmaster and every backend it forked), the
benchmark client. Its CPU time is the sum, over the root process and its live descendants, of
`utime + stime + cutime + cstime` (/proc/<pid>/stat): a child that exited and was reaped has
its time added to its parent's `cutime`/`cstime`, so each tick is counted exactly once, and a
PostgreSQL backend that ends between two readings is not lost. The benchmark client is the one
group read without children: in `--start` mode every service is its child.

Where the processes are is read from the pid files the launchers leave in a state folder
(the same layout for `wallet run`'s `.local/run/` and the benchmark's own temporary one):
`logs/<service>.pid`, `kafka/kafka.pid`, `postgres/data/postmaster.pid`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

BENCH_CLIENT = "bench-client"
POSTGRES = "postgres"
KAFKA = "kafka"
OTHER = "other (not the system)"
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the benchmark needs (times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def own_ticks(self) -> int:
        return self.utime + self.stime

    @property
    def ticks_with_reaped_children(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


@dataclass(frozen=True)
class TrackedProcess:
    """One process group to measure: `name`, its root pid, whether its children count."""

    name: str
    pid: int
    with_children: bool = True


@dataclass(frozen=True)
class CpuReading:
    """CPU ticks of every tracked group, and of the whole machine, at one instant."""

    groups: Mapping[str, int]
    machine_busy: int


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/<pid>/stat; the command name may hold spaces and parentheses."""
    head, _, rest = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5): ppid is field 4, utime..cstime fields 14..17.
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
    )


def parse_peak_rss_kib(status_text: str) -> int | None:
    """`VmHWM` (peak resident set size, KiB) of a /proc/<pid>/status text."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def parse_machine_busy(proc_stat_text: str) -> int:
    """Ticks all CPUs spent not idle, from the `cpu` line of /proc/stat."""
    values = [int(v) for v in proc_stat_text.splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already inside user time: only the first eight columns add up.
    return sum(values[:8]) - idle


def descendants(stats: Mapping[int, ProcStat], root: int) -> set[int]:
    """`root` and every live process below it, from a snapshot of every process's stat."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        if pid in found or pid not in stats:
            continue
        found.add(pid)
        frontier.extend(children.get(pid, ()))
    return found


def group_ticks(stats: Mapping[int, ProcStat], tracked: TrackedProcess) -> int:
    """CPU ticks of a tracked group in one snapshot (0 when its root is gone)."""
    if tracked.pid not in stats:
        return 0
    if not tracked.with_children:
        return stats[tracked.pid].own_ticks
    return sum(stats[pid].ticks_with_reaped_children for pid in descendants(stats, tracked.pid))


def cpu_ms_per_op(
    before: CpuReading, after: CpuReading, operations: int, ticks_per_s: int
) -> dict[str, float]:
    """CPU milliseconds per operation of every group between two readings (equal to CPU
    seconds per 1,000 operations), plus the machine's busy time no tracked group accounts for
    (other programs sharing the cores) under OTHER, and the sum of the groups under "total"."""
    per_op = 1000.0 / ticks_per_s / max(operations, 1)
    # A group whose root vanished reads 0 afterwards: it spent nothing we can tell, not less.
    spent = {
        name: max(after.groups.get(name, 0) - ticks, 0) for name, ticks in before.groups.items()
    }
    figures = {name: ticks * per_op for name, ticks in spent.items()}
    figures["total"] = sum(figures.values())
    machine = after.machine_busy - before.machine_busy
    figures[OTHER] = max(machine - sum(spent.values()), 0) * per_op
    return figures


# --- reading /proc ---------------------------------------------------------------------------


def ticks_per_second() -> int:
    """The kernel's clock tick (USER_HZ) that /proc/<pid>/stat times are counted in."""
    return os.sysconf("SC_CLK_TCK")


def snapshot(proc: Path = _PROC) -> dict[int, ProcStat]:
    """The stat of every process now (those that vanish while being read are skipped)."""
    stats: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return stats


def read_cpu(tracked: Iterable[TrackedProcess], proc: Path = _PROC) -> CpuReading:
    """CPU ticks of every tracked group and of the machine, now."""
    stats = snapshot(proc)
    return CpuReading(
        groups={group.name: group_ticks(stats, group) for group in tracked},
        machine_busy=parse_machine_busy((proc / "stat").read_text()),
    )


def peak_rss_mib(tracked: Iterable[TrackedProcess], proc: Path = _PROC) -> dict[str, float]:
    """Peak RSS (VmHWM) of every tracked group in MiB: its largest process's, since the
    members of a group (PostgreSQL's backends) share memory that a sum would count twice."""
    stats = snapshot(proc)
    peaks: dict[str, float] = {}
    for group in tracked:
        members = descendants(stats, group.pid) if group.with_children else {group.pid}
        highest = max((_peak_rss_kib(pid, proc) for pid in members), default=0)
        if highest:
            peaks[group.name] = highest / 1024
    return peaks


def _peak_rss_kib(pid: int, proc: Path) -> int:
    try:
        return parse_peak_rss_kib((proc / str(pid) / "status").read_text()) or 0
    except OSError:
        return 0


# --- finding the processes -------------------------------------------------------------------


def discover(state_dir: Path) -> list[TrackedProcess]:
    """The system's processes from the pid files under `state_dir`, those alive now, and the
    benchmark client itself: services by name (shards, coordinator, gateway), then the broker
    and PostgreSQL."""
    found = [
        TrackedProcess(path.stem, pid)
        for path in sorted((state_dir / "logs").glob("*.pid"))
        if (pid := _first_int(path)) is not None and _alive(pid)
    ]
    for name, path in (
        (KAFKA, state_dir / "kafka" / "kafka.pid"),
        (POSTGRES, state_dir / "postgres" / "data" / "postmaster.pid"),
    ):
        pid = _first_int(path)
        if pid is not None and _alive(pid):
            found.append(TrackedProcess(name, pid))
    found.append(TrackedProcess(BENCH_CLIENT, os.getpid(), with_children=False))
    return found


def postgres_port(state_dir: Path) -> int | None:
    """The port of the PostgreSQL server under `state_dir` (line 4 of postmaster.pid)."""
    try:
        lines = (state_dir / "postgres" / "data" / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _first_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    return (_PROC / str(pid)).exists()
