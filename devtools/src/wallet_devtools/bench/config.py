"""The arguments of `wallet bench` and the durations of a full and a `--quick` run."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from wallet_devtools.paths import LOCAL_DIR, RUN_DIR

BASELINE = "baseline"
CROSS_SHARD = "cross_shard"
SAME_SHARD = "same_shard"
DEPOSITS = "deposits"
HALF_LOAD = "half_load"
BALANCE_READS = "balance_reads"  # measured beside HALF_LOAD, never on its own
PHASES = (BASELINE, CROSS_SHARD, SAME_SHARD, DEPOSITS, HALF_LOAD)
RESULTS_DIR = LOCAL_DIR / "bench"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class BenchError(RuntimeError):
    """The benchmark could not run (bad arguments, an unexpected answer from the gateway)."""


@dataclass(frozen=True)
class BenchConfig:
    gateway_url: str
    token: str | None
    start: bool
    state_dir: Path  # where the pid files of the system's processes are
    pg_dsn: str | None  # superuser DSN of the system's PostgreSQL server, for the baseline
    phases: tuple[str, ...]
    shards: int
    wallets: int
    concurrency: int
    duration_s: float
    warmup_s: float
    system_warmup_s: float  # mixed load before the first phase, unmeasured
    baseline_concurrencies: tuple[int, ...]
    baseline_trial_s: float
    half_rate: float | None  # transfers/s of HALF_LOAD; None: half of CROSS_SHARD's throughput
    read_rate: float | None  # balance reads/s beside HALF_LOAD; None: as many as transfers
    results_dir: Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallet bench",
        description="Measure the system against one PostgreSQL doing the same transfers alone: "
        "cross-shard and same-shard transfers at full load, deposits, cross-shard transfers "
        "at half load with balance reads beside them; CPU and memory of every process.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--token", help="admin JWT of the running system (with --gateway-url)")
    target.add_argument("--start", action="store_true", help="start a throwaway system to measure")
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=RUN_DIR,
        help="state folder of the running system, where its pid files are (default: "
        "`wallet run`'s)",
    )
    parser.add_argument(
        "--pg-dsn",
        help="superuser DSN of the running system's PostgreSQL (default: its port "
        "from the state folder)",
    )
    parser.add_argument("--quick", action="store_true", help="short phases, for everyday use")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)}",
    )
    parser.add_argument("--shards", type=int, default=2, help="shard count (even map)")
    parser.add_argument("--wallets", type=int, default=None, help="wallets (default 1000/200)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight at full load"
    )
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per phase")
    parser.add_argument(
        "--warmup", type=float, default=None, help="unmeasured seconds before each phase"
    )
    parser.add_argument(
        "--system-warmup",
        type=float,
        default=None,
        help="unmeasured seconds of mixed load before the first phase (default 60/15)",
    )
    parser.add_argument("--half-rate", type=float, default=None, help="transfers/s at half load")
    parser.add_argument("--read-rate", type=float, default=None, help="balance reads/s")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser


def parse_config(argv: Sequence[str] | None) -> BenchConfig:
    """The run's configuration from the command line; BenchError when it makes no sense."""
    args = _parser().parse_args(argv)
    if urlsplit(args.gateway_url).hostname not in _LOOPBACK:
        raise BenchError("the benchmark only talks to a gateway on 127.0.0.1")
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if unknown := set(phases) - set(PHASES):
        raise BenchError(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    wallets = args.wallets if args.wallets is not None else (200 if args.quick else 1000)
    if args.shards < 2 or wallets < 2 * args.shards or args.concurrency < 1:
        raise BenchError("need --shards >= 2, --wallets >= 2 per shard, --concurrency >= 1")
    duration = args.duration if args.duration is not None else (8.0 if args.quick else 30.0)
    # Measured: a fresh system takes about 10 s of load to reach its pace.
    warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 10.0)
    # Measured: the Kafka broker, a JVM, spends its first minute of load compiling its hot
    # paths; its CPU per cross-shard transfer halved between 5 s and 60 s of warm-up.
    system_warmup = (
        args.system_warmup if args.system_warmup is not None else (15.0 if args.quick else 60.0)
    )
    if duration <= 0 or warmup < 0 or system_warmup < 0:
        raise BenchError("--duration must be positive, --warmup and --system-warmup not negative")
    for rate in (args.half_rate, args.read_rate):
        if rate is not None and rate <= 0:
            raise BenchError("--half-rate and --read-rate must be positive")
    if HALF_LOAD in phases and CROSS_SHARD not in phases and args.half_rate is None:
        raise BenchError("half_load without cross_shard needs --half-rate")
    return BenchConfig(
        gateway_url=args.gateway_url.rstrip("/"),
        token=args.token,
        start=args.start,
        state_dir=args.state_dir.resolve(),
        pg_dsn=args.pg_dsn,
        phases=tuple(p for p in PHASES if p in phases),
        shards=args.shards,
        wallets=wallets,
        concurrency=args.concurrency,
        duration_s=duration,
        warmup_s=warmup,
        system_warmup_s=system_warmup,
        baseline_concurrencies=(8, 16, 32),
        baseline_trial_s=2.0 if args.quick else 6.0,
        half_rate=args.half_rate,
        read_rate=args.read_rate,
        results_dir=args.results_dir.resolve(),
    )
