"""`wallet bench`: how fast the system moves money, measured against the database it stands on.

In one run, on one system (a throwaway one it starts with `--start`, or a running one at
`--gateway-url` with an admin `--token`):

1. the baseline: the same transfer done by the system's PostgreSQL server alone, one
   transaction each, at the concurrency that suits it best (`baseline.py`);
2. the phases, each measured on its own after a warm-up: cross-shard and same-shard transfers
   and deposits at full load (closed loop), then cross-shard transfers at half the measured
   cross-shard rate (open loop, fixed arrival rate) with balance reads beside them (`phases.py`,
   `load.py`);
3. per phase: throughput and its ratio to the baseline, latency percentiles, errors and
   cancellations, CPU per operation of every process and peak memory (`procstats.py`);
4. the integrity check; the run fails when the books do not balance.

It shows a progress bar per phase, then summary tables, and writes `.local/bench/latest.json`
and `latest.png` (`report.py`). It only ever talks to a gateway on the loopback interface.
"""

from __future__ import annotations

import sys

import uvloop

from wallet_devtools.bench.config import BenchError, parse_config
from wallet_devtools.bench.run import bench

__all__ = ["BenchError", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `wallet bench`; 0 when the run finished and the books are consistent."""
    try:
        config = parse_config(argv)
        # uvloop: the client shares the cores with what it measures, so it should cost little.
        return uvloop.run(bench(config))
    except BenchError as error:
        print(f"wallet bench: {error}", file=sys.stderr)
        return 2
