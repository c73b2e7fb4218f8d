"""Child processes, ports and pid files shared by the PostgreSQL, Kafka and service launchers.

Every process this package starts runs in its own session (so its whole process group can be
signalled at once, and a Ctrl-C meant for `make run` does not reach it before we decide to stop
it), writes its output to a log file, and leaves a pid file behind so that the next run can clean
up after a run that was killed before it could stop its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

# Ports already handed out by this process: two launchers asking at once must not get the same.
_handed_out_ports: set[int] = set()
_FALLBACK_EPHEMERAL_LOW = 32768


class ProcessExitedError(RuntimeError):
    """A child process ended while we were waiting for it to become ready."""


def _ephemeral_port_low() -> int:
    """Lowest port of the kernel's ephemeral range (outgoing connections take ports from it)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_LOW


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind host:port now.

    The probe binds the way the servers it stands for do (uvicorn, PostgreSQL and the Kafka
    broker all set SO_REUSEADDR): connections of a server that just stopped linger in TIME_WAIT
    on its port for a minute, and they keep out only a socket without that option.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that is free now and was not handed out before.

    Ports are drawn below the ephemeral range: a port picked with bind(0) comes from that range
    and can be taken by any outgoing connection before the server that should use it binds it.
    """
    high = _ephemeral_port_low()
    low = max(1024, high - 12000)
    for _ in range(200):
        port = random.randrange(low, high)
        if port not in _handed_out_ports and port_is_free(port, host):
            _handed_out_ports.add(port)
            return port
    raise RuntimeError(f"no free TCP port found on {host} in [{low}, {high})")


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(
            f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(command)}\n".encode()
        )
        log.flush()
        return subprocess.Popen(  # noqa: S603 - commands are built by this package, not from input
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def exit_status(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status of `process` (negative: killed by that signal), None while it runs.

    The process is not reaped: a dead child stays a zombie, which keeps its pid, and so its
    process-group id, from being handed to another process. Only then is signalling the group
    safe; pids are recycled within minutes on a busy machine, and `killpg` on a recycled id
    would kill a stranger (another test's database, say).
    """
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped by someone else
        return process.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The process leads its own session, so its pid is also its process-group id; signalling the
    # group reaches whatever it forked too (uvicorn workers, a JVM's helpers). Once reaped, the
    # id may belong to someone else: then nothing is sent.
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def wait_exit(process: subprocess.Popen[bytes], within_s: float) -> bool:
    """Wait up to `within_s` seconds for `process` to exit (without reaping it); True if it did."""
    deadline = time.monotonic() + within_s
    while exit_status(process) is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def stop_process(
    process: subprocess.Popen[bytes],
    *,
    grace_s: float = 10.0,
    first_signal: signal.Signals = signal.SIGTERM,
) -> None:
    """Ask the process group to stop with `first_signal`, SIGKILL it after `grace_s`, reap it."""
    if exit_status(process) is None:
        _signal_group(process, first_signal)
        await wait_exit(process, grace_s)
    # The leader is alive or a zombie, so the group id is still ours: this also ends any
    # member that outlived it.
    _signal_group(process, signal.SIGKILL)
    await asyncio.to_thread(_reap, process)


def kill_process(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group now (a crash, as the fault tests want it), reap it."""
    _signal_group(process, signal.SIGKILL)
    _reap(process)


def _reap(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10.0)


def pid_is_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_pids(pid: int) -> list[int]:
    """The pids of the live children of `pid` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name in parentheses may hold spaces: the fields follow its last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    """Whether `pid` is a process that still runs (a zombie has ended: it holds nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_gone(pids: Sequence[int], *, within_s: float) -> None:
    """Wait until none of `pids` runs any more; TimeoutError after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while running := [pid for pid in pids if is_running(pid)]:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"processes {running} still run after {within_s} s")
        await asyncio.sleep(0.05)


def command_line(pid: int) -> str:
    """The command line of `pid`, arguments joined by spaces; "" when unknown."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def write_pid_file(path: Path, pid: int) -> None:
    """Record `pid` so that a later run can find a process this run leaves behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def read_pid_file(path: Path) -> int | None:
    """The pid recorded in `path` (first line), or None when absent or unreadable."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def reap_stale_process(pid_file: Path, *, must_contain: str, timeout: float = 15.0) -> bool:
    """Stop a process left running by an earlier, killed run; True when one was stopped.

    The pid in `pid_file` is only trusted when the live process's command line contains
    `must_contain`: pids are reused, and a stale file must never make us kill a stranger.
    """
    pid = read_pid_file(pid_file)
    stopped = False
    if pid is not None and pid_is_alive(pid) and must_contain in command_line(pid):
        _terminate_pid(pid, timeout)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


def _terminate_pid(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        if _leads_group(pid):
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_is_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


async def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], Awaitable[bool]],
    *,
    what: str,
    timeout_s: float,
    interval_s: float,
    logs: Callable[[], str],
) -> None:
    """Poll `ready()` every `interval_s` until it answers True.

    Raises ProcessExitedError when `process` ends first, TimeoutError after `timeout_s`; both
    messages name `what` and end with `logs()` (the tail of its logs).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if (status := exit_status(process)) is not None:
            raise ProcessExitedError(f"{what} exited with {status}; {logs()}")
        if await ready():
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout_s}s; {logs()}")
        await asyncio.sleep(interval_s)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


async def await_all_or_cancel(waits: Sequence[Awaitable[object]]) -> None:
    """Await all concurrently; on the first failure cancel the rest and raise that failure.

    Unlike `asyncio.gather`, nothing keeps running in the background after a failure, and
    unlike a TaskGroup the caller gets the error itself rather than an ExceptionGroup.
    """
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
