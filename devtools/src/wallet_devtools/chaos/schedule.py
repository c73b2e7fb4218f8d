"""What a chaos run does, derived from its seed alone: the transfers and the faults.

Pure (no I/O), so that a seed names one run: the same wallets, the same transfers in the same
order, the same faults with the same outages at the same points of the workload. Only the
interleaving of requests with faults depends on how fast the machine is.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from wallet_devtools.layout import COORDINATOR, GATEWAY, shard_name

_T = TypeVar("_T")


class FaultKind(StrEnum):
    """The kinds of fault a run injects, each at least `faults_per_kind` times."""

    SERVICE = "service"  # one service SIGKILLed, then restarted
    TWO_SERVICES = "two_services"  # two services SIGKILLed at once, then both restarted
    KAFKA = "kafka"  # the broker SIGKILLed, then restarted on its data
    POSTGRES = "postgres"  # the server stopped in immediate mode or SIGKILLed, then restarted


class PostgresCrash(StrEnum):
    IMMEDIATE = "immediate"  # pg_ctl stop -m immediate: no checkpoint, crash recovery at start
    SIGKILL = "sigkill"  # SIGKILL of the postmaster and every backend, as a machine crash would


@dataclass(frozen=True)
class Fault:
    """One fault: what is killed, for how long it stays down, and when it strikes.

    `after_answered`: the fault strikes once that many transfers were answered, so that it
    always meets transfers in flight, however fast or slow the machine is.
    """

    kind: FaultKind
    targets: tuple[str, ...]  # service names; ("kafka",) or ("postgres",) for the servers
    down_s: float
    after_answered: int
    postgres_crash: PostgresCrash | None = None

    def describe(self) -> str:
        what = " + ".join(self.targets)
        how = f" ({self.postgres_crash})" if self.postgres_crash else ""
        return f"{self.kind}: {what}{how}, down {self.down_s:.1f} s"


@dataclass(frozen=True)
class PlannedTransfer:
    """Transfer number `index`: from one benchmark wallet (by index) to another."""

    index: int
    source: int
    destination: int
    amount: int
    wait: bool  # sent with `Prefer: wait=N` (else polled until final)


@dataclass(frozen=True)
class WalletPlan:
    """Wallet `index` lives on `shard`, holds `currency` and is funded with `funds` first."""

    index: int
    shard: int
    currency: str
    funds: int


def services(shard_count: int) -> tuple[str, ...]:
    """The service processes a fault may kill."""
    return (*(shard_name(n) for n in range(shard_count)), COORDINATOR, GATEWAY)


CURRENCIES = ("USD", "EUR")


def plan_wallets(*, wallets: int, shard_count: int, funds: int) -> list[WalletPlan]:
    """`wallets` wallets spread evenly over the shards and the currencies: wallet i on shard
    i mod shards, each shard holding wallets of every currency."""
    if wallets < 2 * shard_count * len(CURRENCIES):
        raise ValueError("need two wallets per shard and currency (same-shard transfers)")
    return [
        WalletPlan(n, n % shard_count, CURRENCIES[(n // shard_count) % len(CURRENCIES)], funds)
        for n in range(wallets)
    ]


def plan_transfers(
    seed: int,
    wallets: list[WalletPlan],
    *,
    count: int,
    max_amount: int,
    same_shard_share: float = 0.5,
    wait_share: float = 0.5,
) -> list[PlannedTransfer]:
    """`count` transfers between distinct wallets of one currency, about `same_shard_share`
    of them between two wallets of one shard, the rest across shards."""
    rng = random.Random(f"transfers-{seed}")
    groups: dict[tuple[str, int], list[int]] = {}
    for wallet in wallets:
        groups.setdefault((wallet.currency, wallet.shard), []).append(wallet.index)
    currencies = sorted({currency for currency, _ in groups})
    shards = sorted({shard for _, shard in groups})
    plan = []
    for index in range(count):
        currency = rng.choice(currencies)
        if rng.random() < same_shard_share or len(shards) < 2:
            source, destination = rng.sample(groups[currency, rng.choice(shards)], 2)
        else:
            first, second = rng.sample(shards, 2)
            source = rng.choice(groups[currency, first])
            destination = rng.choice(groups[currency, second])
        amount = rng.randint(1, max_amount)
        plan.append(PlannedTransfer(index, source, destination, amount, rng.random() < wait_share))
    return plan


def plan_faults(
    seed: int,
    *,
    shard_count: int,
    transfers: int,
    per_kind: int,
    max_down_s: float = 3.0,
) -> list[Fault]:
    """`per_kind` faults of each kind in a seeded order, spread evenly over the workload.

    Single-service faults take every service in turn (a seeded order), pairs likewise take
    every pair of services, so that even a short run kills each kind of process.
    """
    if per_kind < 1:
        raise ValueError("per_kind must be at least 1")
    rng = random.Random(f"faults-{seed}")
    names = list(services(shard_count))
    singles = _seeded_cycle(rng, [(name,) for name in names])
    pairs = _seeded_cycle(rng, list(itertools.combinations(names, 2)))
    drafts: list[tuple[FaultKind, tuple[str, ...], PostgresCrash | None]] = []
    crashes = [PostgresCrash.IMMEDIATE, PostgresCrash.SIGKILL]
    rng.shuffle(crashes)
    for n in range(per_kind):
        drafts.append((FaultKind.SERVICE, next(singles), None))
        drafts.append((FaultKind.TWO_SERVICES, next(pairs), None))
        drafts.append((FaultKind.KAFKA, ("kafka",), None))
        drafts.append((FaultKind.POSTGRES, ("postgres",), crashes[n % 2]))
    rng.shuffle(drafts)
    gap = transfers / (len(drafts) + 1)
    return [
        Fault(
            kind=kind,
            targets=targets,
            down_s=round(rng.uniform(0.2, max_down_s), 1),
            after_answered=max(1, round(gap * (n + 1))),
            postgres_crash=crash,
        )
        for n, (kind, targets, crash) in enumerate(drafts)
    ]


def _seeded_cycle(rng: random.Random, items: list[_T]) -> Iterator[_T]:
    shuffled = list(items)
    rng.shuffle(shuffled)
    return itertools.cycle(shuffled)
