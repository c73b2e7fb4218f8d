"""The arguments of `wallet chaos`: the full run (`make chaos`) and `--short` (part of the tests)."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wallet_devtools.chaos.schedule import CURRENCIES
from wallet_devtools.paths import LOCAL_DIR

STATE_DIR = LOCAL_DIR / "chaos"


class ChaosConfigError(ValueError):
    """Arguments that make no run."""


@dataclass(frozen=True)
class ChaosConfig:
    seed: int
    transfers: int
    faults_per_kind: int
    wallets: int
    shards: int
    concurrency: int
    funds: int  # each wallet's deposit before the workload
    max_amount: int  # transfers move 1..max_amount
    max_down_s: float  # longest outage of one fault
    final_within_s: float  # every transfer final this long after the last fault ended
    patience_s: float  # how long a client keeps repeating one request, or polling one transfer
    recover_within_s: float  # how long the system may take to be ready after a fault
    state_dir: Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallet chaos",
        description="Start a throwaway system, run a transfer workload on it while SIGKILLing "
        "and restarting its services, the Kafka broker and PostgreSQL on a seeded schedule, "
        "then check the books against what was accepted. Exits 1 on any violation.",
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    parser.add_argument(
        "--short", action="store_true", help="1,000 transfers and one fault of each kind"
    )
    parser.add_argument("--transfers", type=int, default=None, help="default 10,000 (short 1,000)")
    parser.add_argument("--faults-per-kind", type=int, default=None, help="default 10 (short 1)")
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="transfers in flight")
    parser.add_argument("--funds", type=int, default=50_000, help="each wallet's first deposit")
    parser.add_argument("--max-amount", type=int, default=20_000)
    parser.add_argument("--max-down", type=float, default=3.0, help="longest outage, seconds")
    parser.add_argument(
        "--final-within",
        type=float,
        default=60.0,
        help="every transfer final this many seconds after the last fault (else a violation)",
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    return parser


def parse_config(argv: Sequence[str] | None) -> ChaosConfig:
    args = _parser().parse_args(argv)
    transfers = args.transfers if args.transfers is not None else (1000 if args.short else 10_000)
    per_kind = (
        args.faults_per_kind if args.faults_per_kind is not None else (1 if args.short else 10)
    )
    if transfers < 1 or per_kind < 1 or args.concurrency < 1 or args.shards < 2:
        raise ChaosConfigError(
            "need --transfers, --faults-per-kind, --concurrency >= 1, --shards >= 2"
        )
    if args.wallets < 2 * args.shards * len(CURRENCIES):
        raise ChaosConfigError(f"need --wallets >= {2 * len(CURRENCIES)} per shard")
    if args.funds < 1 or args.max_amount < 1 or args.max_down < 0:
        raise ChaosConfigError("need --funds, --max-amount >= 1 and --max-down >= 0")
    return ChaosConfig(
        seed=args.seed if args.seed is not None else secrets.randbelow(10**6),
        transfers=transfers,
        faults_per_kind=per_kind,
        wallets=args.wallets,
        shards=args.shards,
        concurrency=args.concurrency,
        funds=args.funds,
        max_amount=args.max_amount,
        max_down_s=args.max_down,
        final_within_s=args.final_within,
        patience_s=300.0,
        recover_within_s=240.0,
        state_dir=args.state_dir.resolve(),
    )
