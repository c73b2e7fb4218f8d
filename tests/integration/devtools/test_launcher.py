"""`wallet run` (what `make run` runs) → Ctrl-C → `wallet run` again works at once, on the same
gateway port, although the first run's connections still linger in TIME_WAIT on it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wallet_devtools.processes import free_port, log_tail, spawn, stop_process

READY_LIMIT_S = 300.0  # PostgreSQL, Kafka and four services on a busy 2-core machine
STOP_LIMIT_S = 120.0


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not under pytest's base folder: as root, PostgreSQL runs as `postgres`, which cannot enter
    # pytest's private temporary folders.
    path = Path(tempfile.mkdtemp(prefix="wallet-test-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def bind_without_reuse(port: int) -> bool:
    """Whether a socket without SO_REUSEADDR could bind the port (the probe's old way)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def says(log: Path, line: str) -> bool:
    return line in log.read_text()


async def run_until_ready_then_interrupt(state_dir: Path, port: int, log: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WALLET_")}
    env["WALLET_GATEWAY_PORT"] = str(port)
    command = [sys.executable, "-m", "wallet_devtools.cli", "run", "--state-dir", str(state_dir)]
    process = spawn(command, log_path=log, env=env)
    try:
        # One keep-alive connection stays open until the gateway stops: the gateway closes it,
        # which leaves the gateway's side in TIME_WAIT on its port.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await wait_until_ready(client, process, log)
            process.send_signal(signal.SIGINT)
            code = await asyncio.to_thread(process.wait, STOP_LIMIT_S)
        assert code == 0, log_tail(log)
        assert says(log, "All processes stopped.")
    finally:
        await stop_process(process, grace_s=10.0)


async def wait_until_ready(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path
) -> None:
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + READY_LIMIT_S
    while loop.time() < give_up_at:
        assert process.poll() is None, f"wallet run exited:\n{log_tail(log)}"
        # Up as a person sees it: the launcher says so, and the gateway answers ready.
        if says(log, "Wallet system is up."):
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"wallet run was not ready in {READY_LIMIT_S} s:\n{log_tail(log)}")


async def test_run_then_ctrl_c_then_run_again_on_the_same_port(
    state_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    await run_until_ready_then_interrupt(state_dir, port, tmp_path / "first.log")
    lingering = not bind_without_reuse(port)
    await run_until_ready_then_interrupt(state_dir, port, tmp_path / "second.log")
    print(f"TIME_WAIT on the gateway port between the runs: {lingering}")
