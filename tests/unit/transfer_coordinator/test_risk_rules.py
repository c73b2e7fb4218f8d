"""The risk rules, one by one, on hand-made activity (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transfer_coordinator.domain.risk import (
    Movement,
    RiskThresholds,
    amount_outlier,
    deposit_then_transfer,
    judge,
    many_destinations,
    velocity,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
T = RiskThresholds(velocity_count=3, amount_min_history=3, destinations_count=2)


def out(amount: int = 100, *, ago_s: float = 0, destination: str | None = None) -> Movement:
    transfer = "trf_1" if destination else None
    return Movement(
        "wlt_a", "out", amount, NOW - timedelta(seconds=ago_s),
        transaction_id=None if transfer else "txn_1", transfer_id=transfer, destination=destination,
    )  # fmt: skip


def deposit(amount: int, *, ago_s: float = 0) -> Movement:
    return Movement("wlt_a", "deposit", amount, NOW - timedelta(seconds=ago_s), "txn_d")


def test_velocity_flags_only_beyond_the_count_within_the_window() -> None:
    assert velocity(out(), [out(ago_s=10), out(ago_s=20)], T) is None
    finding = velocity(out(), [out(ago_s=10), out(ago_s=20), out(ago_s=30)], T)
    assert finding is not None
    assert finding.detail["count"] == 4
    # Movements older than the window, and deposits, do not count.
    assert velocity(out(), [out(ago_s=10), out(ago_s=20), out(ago_s=301)], T) is None
    assert velocity(out(), [out(ago_s=10), out(ago_s=20), deposit(5)], T) is None


def test_amount_outlier_needs_history_and_compares_with_the_median() -> None:
    history = [out(10), out(12), out(1000)]
    assert amount_outlier(out(500), history[:2], T) is None  # too little history
    assert amount_outlier(out(600), history, T) is None  # 50 x median 12 = 600: not above
    finding = amount_outlier(out(601), history, T)
    assert finding is not None
    assert finding.detail == {
        "amount": "601",
        "median": "12",
        "multiple": 50,
    }


def test_many_destinations_counts_distinct_wallets_in_the_window() -> None:
    history = [out(ago_s=5, destination="wlt_b"), out(ago_s=6, destination="wlt_b")]
    assert many_destinations(out(destination="wlt_c"), history, T) is None
    history.append(out(ago_s=7, destination="wlt_d"))
    finding = many_destinations(out(destination="wlt_c"), history, T)
    assert finding is not None
    assert finding.detail["destinations"] == 3
    assert many_destinations(out(), history, T) is None  # not a transfer
    old = [out(ago_s=601, destination=f"wlt_{n}") for n in range(5)]
    assert many_destinations(out(destination="wlt_c"), old, T) is None


def test_deposit_then_transfer_of_the_same_amount() -> None:
    assert deposit_then_transfer(out(700, destination="wlt_b"), [deposit(700, ago_s=3)], T)
    assert deposit_then_transfer(out(700, destination="wlt_b"), [deposit(699, ago_s=3)], T) is None
    assert (
        deposit_then_transfer(out(700, destination="wlt_b"), [deposit(700, ago_s=601)], T) is None
    )
    assert deposit_then_transfer(out(700), [deposit(700, ago_s=3)], T) is None  # a withdrawal


def test_judge_runs_every_rule_on_outgoing_movements_only() -> None:
    history = [deposit(700, ago_s=1), *(out(10, ago_s=n) for n in range(2, 6))]
    rules = {finding.rule for finding in judge(out(700, destination="wlt_b"), history, T)}
    assert rules == {"velocity", "amount_outlier", "deposit_then_transfer"}
    assert judge(deposit(10**9), history, T) == []
    assert RiskThresholds().history_size == 51
