"""`wallet chaos`: a seeded fault-injection run against a throwaway system (`make chaos`).

It starts its own PostgreSQL, Kafka broker, gateway, shards and coordinator (`system.py`),
funds a set of wallets on every shard, and runs a transfer workload (same- and cross-shard,
N in flight, clients repeating with the same Idempotency-Key as real ones do, `client.py`,
`workload.py`) while a schedule derived from the seed (`schedule.py`) SIGKILLs and restarts one
service, two services at once, the Kafka broker, and PostgreSQL (immediate stop or SIGKILL).
Then it checks the books against its own record of what was accepted (`checks.py`) and prints
the figures; the exit status is 1 on any violation. `--seed` replays a run.
"""

from __future__ import annotations

import sys

import uvloop

from wallet_devtools.chaos.config import ChaosConfigError, parse_config
from wallet_devtools.chaos.run import ChaosResult, run_chaos

__all__ = ["ChaosResult", "main", "run_chaos"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `wallet chaos`: 0 when every check passed, 1 on a violation."""
    try:
        config = parse_config(argv)
    except ChaosConfigError as error:
        print(f"wallet chaos: {error}", file=sys.stderr)
        return 2
    result = uvloop.run(run_chaos(config, say=_say))
    return 0 if result.passed else 1


def _say(line: str) -> None:
    print(line, flush=True)
