"""What rebuilding a wallet's balance snapshot does, from what was read under its lock."""

from __future__ import annotations

from wallet_shard.adapters.snapshot_queries import LockedSnapshot
from wallet_shard.service_layer.ledger_maintenance import rebuild_outcome


def _read(
    balance: int, entries: int, *, frozen: int = 0, holds: int = 0, credits: int = 0
) -> LockedSnapshot:
    return LockedSnapshot(
        balance=balance,
        frozen=frozen,
        incoming=0,
        entries_total=entries,
        open_holds=holds,
        open_credits=credits,
    )


def test_a_drifted_balance_becomes_the_sum_of_the_entries() -> None:
    outcome = rebuild_outcome("wlt_a", _read(1700, 1000))
    assert (outcome.outcome, outcome.balance_before, outcome.balance_after) == (
        "rebuilt",
        1700,
        1000,
    )


def test_a_frozen_amount_with_no_open_hold_is_released() -> None:
    outcome = rebuild_outcome("wlt_a", _read(1000, 1000, frozen=300))
    assert (outcome.outcome, outcome.frozen_after) == ("rebuilt", 0)


def test_a_wallet_that_agrees_with_its_ledger_is_unchanged() -> None:
    assert rebuild_outcome("wlt_a", _read(1000, 1000)).outcome == "unchanged"


def test_a_wallet_with_money_in_flight_is_refused_and_left_as_it_is() -> None:
    for read in (_read(1700, 1000, frozen=50, holds=1), _read(1000, 1000, credits=2)):
        outcome = rebuild_outcome("wlt_a", read)
        assert outcome.outcome == "refused"
        assert outcome.reason is not None
        assert "money in flight" in outcome.reason
        assert (outcome.balance_after, outcome.frozen_after) == (read.balance, read.frozen)


def test_a_wallet_whose_entries_sum_below_zero_is_refused_with_the_reason() -> None:
    # Its row refuses a negative balance: writing the sum would fail the database's CHECK.
    outcome = rebuild_outcome("wlt_a", _read(500, -200))
    assert outcome.outcome == "refused"
    assert outcome.reason is not None
    assert "-200" in outcome.reason
    assert (outcome.balance_after, outcome.frozen_after) == (500, 0)
