"""Wallet rules: money in and out, holds, and status transitions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from wallet_shard.domain.errors import LedgerInvariantViolated
from wallet_shard.domain.wallet import BIGINT_MAX, MAX_BALANCE, WalletStatus
from wallet_shared.contracts.errors import (
    Conflict,
    CurrencyMismatch,
    InsufficientFunds,
    LimitExceeded,
    WalletNotActive,
)

from .factories import NOW, wallet


def test_a_new_wallet_is_active_and_empty() -> None:
    opened = wallet()
    assert (opened.status, opened.balance, opened.frozen, opened.available) == (
        WalletStatus.ACTIVE,
        0,
        0,
        0,
    )


def test_receive_and_pay_out_move_the_balance() -> None:
    w = wallet()
    w.receive(1500)
    w.pay_out(500, **NOW)
    assert w.balance == 1000


def test_pay_out_beyond_the_available_balance_is_refused_and_changes_nothing() -> None:
    w = wallet(balance=1000, frozen=400)
    with pytest.raises(InsufficientFunds):
        w.pay_out(601, **NOW)
    assert (w.balance, w.frozen) == (1000, 400)


def test_a_deposit_that_would_pass_the_maximum_balance_is_a_limit() -> None:
    w = wallet(balance=MAX_BALANCE - 10)
    with pytest.raises(LimitExceeded):
        w.receive(11)
    w.receive(10)
    assert w.balance == MAX_BALANCE


def test_a_pending_credit_holds_its_room_so_every_confirm_fits() -> None:
    # Each Try holds room under the maximum beside the pending credits already recorded: the
    # second pending credit that would not fit is refused at Try, never at Confirm.
    w = wallet(balance=MAX_BALANCE - 2 * 10**15)
    w.record_pending_credit(10**15, "USD")
    w.record_pending_credit(10**15, "USD")
    assert w.incoming == 2 * 10**15
    with pytest.raises(LimitExceeded):
        w.record_pending_credit(1, "USD")
    with pytest.raises(LimitExceeded):
        w.receive(1)  # a deposit cannot take the room held for incoming transfers
    w.confirm_pending_credit(10**15)
    w.cancel_pending_credit(10**15)
    assert (w.balance, w.incoming) == (MAX_BALANCE - 10**15, 0)
    w.record_pending_credit(10**15, "USD")  # the cancelled room is free again
    w.confirm_pending_credit(10**15)
    assert (w.balance, w.incoming) == (MAX_BALANCE, 0)
    with pytest.raises(LedgerInvariantViolated):
        w.confirm_pending_credit(1)  # nothing pending: a protocol bug, never a silent overflow
    assert BIGINT_MAX > MAX_BALANCE + 10**15


@pytest.mark.parametrize("status", [WalletStatus.FROZEN, WalletStatus.CLOSED])
def test_a_wallet_not_active_neither_receives_nor_pays_nor_holds(status: WalletStatus) -> None:
    w = wallet(balance=1000)
    w.status = status
    attempts: list[Callable[[], None]] = [
        lambda: w.receive(1),
        lambda: w.pay_out(1, **NOW),
        lambda: w.place_hold(1, "USD", **NOW),
        lambda: w.record_pending_credit(1, "USD"),
    ]
    for attempt in attempts:
        with pytest.raises(WalletNotActive):
            attempt()
    assert (w.balance, w.frozen) == (1000, 0)


def test_a_hold_reserves_the_available_balance() -> None:
    w = wallet(balance=1000)
    w.place_hold(700, "USD", **NOW)
    assert (w.balance, w.frozen, w.available) == (1000, 700, 300)
    with pytest.raises(InsufficientFunds):
        w.place_hold(301, "USD", **NOW)
    with pytest.raises(CurrencyMismatch):
        w.place_hold(1, "EUR", **NOW)


def test_confirming_a_hold_works_even_after_the_wallet_was_frozen() -> None:
    w = wallet(balance=1000)
    w.place_hold(700, "USD", **NOW)
    w.freeze()
    w.confirm_hold(700)
    assert (w.balance, w.frozen) == (300, 0)


def test_cancelling_more_than_is_held_is_an_invariant_violation() -> None:
    w = wallet(balance=1000, frozen=100)
    with pytest.raises(LedgerInvariantViolated):
        w.cancel_hold(101)


def test_freeze_and_unfreeze_toggle_and_repeat_as_no_ops() -> None:
    w = wallet()
    assert w.freeze() is True
    assert w.freeze() is False
    assert w.status.value == "frozen"
    assert w.unfreeze() is True
    assert w.unfreeze() is False
    assert w.status is WalletStatus.ACTIVE


def test_close_needs_zero_balance_no_holds_and_no_pending_credits() -> None:
    with pytest.raises(Conflict):
        wallet(balance=1).close(has_pending_credits=False)
    with pytest.raises(Conflict):
        wallet().close(has_pending_credits=True)
    w = wallet()
    assert w.close(has_pending_credits=False) is True
    assert w.close(has_pending_credits=False) is False
    assert w.status is WalletStatus.CLOSED


def test_a_closed_wallet_cannot_be_frozen_or_unfrozen() -> None:
    w = wallet()
    w.close(has_pending_credits=False)
    with pytest.raises(WalletNotActive):
        w.freeze()
    with pytest.raises(WalletNotActive):
        w.unfreeze()
