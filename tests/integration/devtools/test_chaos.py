"""`wallet chaos --short`: transfers keep their books while every part of the system is killed.

A real system of its own (PostgreSQL, a Kafka broker, two shards, the coordinator, the gateway:
the run kills the servers too, so it cannot share the session's), 1,000 transfers with 32 in
flight, and one fault of each kind: a service SIGKILLed, two services at once, the broker, and
PostgreSQL. Every wait inside is for a condition (ready again, final), each bounded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from wallet_devtools.chaos import run_chaos
from wallet_devtools.chaos.config import parse_config
from wallet_devtools.chaos.schedule import FaultKind
from wallet_devtools.processes import log_tail

SEED = 20261202  # fixed: a failure here replays with `wallet chaos --short --seed 20261202`


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not under pytest's base folder: as root, PostgreSQL runs as `postgres`, which cannot enter
    # pytest's private temporary folders.
    path = Path(tempfile.mkdtemp(prefix="wallet-test-chaos-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_short_chaos_run_keeps_the_books(state_dir: Path) -> None:
    # The 60 s of the full run are a target for a quiet machine; here they would measure how
    # busy CI is. The bound still catches a transfer stuck until its client gives up.
    config = parse_config(
        ["--short", "--seed", str(SEED), "--state-dir", str(state_dir), "--final-within", "240"]
    )
    said: list[str] = []
    result = await run_chaos(config, say=said.append)

    output = "\n".join(said)
    print(output)  # shown with the report when the test fails
    if not result.passed:  # the folder goes with the test: the logs' tails go in the message
        logs = sorted((state_dir / "system" / "logs").glob("*.log"))
        tails = "\n".join(f"----- {log.name}\n{log_tail(log, 30)}" for log in logs)
        pytest.fail(f"{output}\n{tails}")
    assert result.figures["faults"] == {kind.value: 1 for kind in FaultKind}, output
    assert result.figures["transfers"] == 1000
    assert result.figures["outcomes"].get("completed", 0) > 0, output
    assert result.figures["replays"] == 1000, output
