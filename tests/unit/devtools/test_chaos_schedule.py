"""`wallet chaos`: what a seed plans (wallets, transfers, faults), and the checks that compare
the system with the run's record, on records made up here."""

from __future__ import annotations

from collections import Counter

import pytest
from wallet_devtools.chaos.checks import (
    Booking,
    _check_bookings,
    _check_transfers,
    check_record,
    expected_balances,
)
from wallet_devtools.chaos.client import Answer
from wallet_devtools.chaos.config import ChaosConfigError, parse_config
from wallet_devtools.chaos.schedule import (
    FaultKind,
    PostgresCrash,
    plan_faults,
    plan_transfers,
    plan_wallets,
    services,
)
from wallet_devtools.chaos.workload import TransferRecord, Wallet, records_for


def test_a_seed_names_one_plan_and_another_seed_another() -> None:
    wallets = plan_wallets(wallets=20, shard_count=2, funds=1000)
    first = plan_transfers(7, wallets, count=500, max_amount=300)
    assert first == plan_transfers(7, wallets, count=500, max_amount=300)
    assert first != plan_transfers(8, wallets, count=500, max_amount=300)
    faults = plan_faults(7, shard_count=2, transfers=1000, per_kind=3)
    assert faults == plan_faults(7, shard_count=2, transfers=1000, per_kind=3)
    assert faults != plan_faults(8, shard_count=2, transfers=1000, per_kind=3)


def test_transfers_stay_in_one_currency_and_mix_same_and_cross_shard() -> None:
    wallets = plan_wallets(wallets=20, shard_count=2, funds=1000)
    assert Counter((w.shard, w.currency) for w in wallets) == {
        (0, "USD"): 5,
        (1, "USD"): 5,
        (0, "EUR"): 5,
        (1, "EUR"): 5,
    }
    plan = plan_transfers(3, wallets, count=2000, max_amount=300)
    assert all(t.source != t.destination for t in plan)
    assert all(wallets[t.source].currency == wallets[t.destination].currency for t in plan)
    assert all(1 <= t.amount <= 300 for t in plan)
    same = sum(1 for t in plan if wallets[t.source].shard == wallets[t.destination].shard)
    assert 800 < same < 1200
    assert 800 < sum(1 for t in plan if t.wait) < 1200


def test_every_kind_of_fault_comes_as_often_as_asked_spread_over_the_workload() -> None:
    faults = plan_faults(11, shard_count=2, transfers=10_000, per_kind=10, max_down_s=3.0)
    assert Counter(f.kind for f in faults) == {kind: 10 for kind in FaultKind}
    points = [f.after_answered for f in faults]
    assert points == sorted(points)
    assert points[0] > 0
    assert points[-1] < 10_000
    assert all(0.2 <= f.down_s <= 3.0 for f in faults)
    singles = Counter(f.targets for f in faults if f.kind is FaultKind.SERVICE)
    assert {name for (name,) in singles} == set(services(2))  # each service killed
    pairs = [f.targets for f in faults if f.kind is FaultKind.TWO_SERVICES]
    assert all(len(set(pair)) == 2 for pair in pairs)
    crashes = Counter(f.postgres_crash for f in faults if f.kind is FaultKind.POSTGRES)
    assert crashes == {PostgresCrash.IMMEDIATE: 5, PostgresCrash.SIGKILL: 5}


def test_a_short_run_has_one_fault_of_each_kind() -> None:
    faults = plan_faults(1, shard_count=2, transfers=1000, per_kind=1)
    assert sorted(f.kind for f in faults) == sorted(FaultKind)


def test_config_of_the_full_and_the_short_run() -> None:
    full, short = parse_config([]), parse_config(["--short", "--seed", "5"])
    assert (full.transfers, full.faults_per_kind, full.concurrency) == (10_000, 10, 32)
    assert (short.transfers, short.faults_per_kind, short.seed) == (1000, 1, 5)
    with pytest.raises(ChaosConfigError):
        parse_config(["--shards", "1"])
    with pytest.raises(ChaosConfigError):
        parse_config(["--wallets", "6"])  # not two per shard and currency


# --- the checks, on a made-up record ---------------------------------------------------------


def _record_of(status: str | None) -> tuple[list[Wallet], TransferRecord]:
    plans = plan_wallets(wallets=8, shard_count=2, funds=100)
    wallets = [Wallet(plan, f"user{plan.index}", f"w{plan.index}") for plan in plans]
    planned = plan_transfers(1, plans, count=1, max_amount=50)
    record = records_for(1, wallets, planned)[0]
    record.first = Answer(202, {"id": "tr1", "status": "pending"}, replayed=False)
    record.transfer_id = "tr1"
    if status is not None:
        record.final = {
            **record.body,
            "id": "tr1",
            "status": status,
            "failure_code": None if status == "completed" else "insufficient_funds",
            "amount": str(record.planned.amount),  # answers give amounts as strings
        }
    return wallets, record


def _legs(wallets: list[Wallet], record: TransferRecord) -> list[Booking]:
    source, destination = wallets[record.planned.source], wallets[record.planned.destination]
    amount = record.planned.amount
    return [
        Booking(source.plan.shard, "tr1", "transfer_out", source.wallet_id, amount),
        Booking(destination.plan.shard, "tr1", "transfer_in", destination.wallet_id, amount),
    ]


def test_a_completed_transfer_booked_once_per_leg_passes() -> None:
    wallets, record = _record_of("completed")
    assert check_record([record]) == []
    assert _check_bookings([record], wallets, _legs(wallets, record)) == []
    assert _check_transfers([record], {"tr1": "completed"}, {}) == []
    balances = expected_balances(wallets, [record])
    assert sum(balances) == 800
    assert balances[record.planned.source] == 100 - record.planned.amount


def test_a_leg_booked_twice_missing_or_for_a_cancelled_transfer_is_found() -> None:
    wallets, record = _record_of("completed")
    legs = _legs(wallets, record)
    assert _check_bookings([record], wallets, [*legs, legs[0]])
    assert _check_bookings([record], wallets, legs[:1])
    _, cancelled = _record_of("cancelled")
    assert _check_bookings([cancelled], wallets, legs)


def test_a_transfer_not_final_unknown_or_stored_differently_is_found() -> None:
    _, pending = _record_of(None)
    assert check_record([pending])
    _, record = _record_of("completed")
    assert _check_transfers([record], {"tr1": "cancelled"}, {})
    assert _check_transfers([record], {"tr1": "completed", "tr2": "completed"}, {})
    assert _check_transfers([record], {}, {})
