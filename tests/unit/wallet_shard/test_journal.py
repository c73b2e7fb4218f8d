"""Journal transactions: balanced by construction, and what each movement books."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wallet_shard.domain.errors import UnbalancedJournalTransaction
from wallet_shard.domain.journal import JournalEntry, JournalTransaction, is_system_account
from wallet_shard.domain.postings import (
    PostingContext,
    book_confirmed_hold,
    book_confirmed_pending_credit,
    book_deposit,
    book_withdrawal,
    check_operation_amount,
)
from wallet_shared.contracts.errors import InsufficientFunds, ValidationFailed

from .factories import NOW, T0, wallet

ENTRY = st.builds(
    JournalEntry,
    account=st.sampled_from(["wlt_a", "system:cash_in:USD", "system:clearing:EUR"]),
    currency=st.sampled_from(["USD", "EUR"]),
    amount=st.integers(min_value=-(10**15), max_value=10**15).filter(bool),
)


def _transaction(entries: tuple[JournalEntry, ...]) -> JournalTransaction:
    return JournalTransaction(
        id="txn_1",
        wallet_id="wlt_a",
        type="deposit",
        amount=1,
        balance_after=1,
        entries=entries,
        created_at=T0,
    )


@given(st.lists(ENTRY, max_size=6))
def test_a_journal_transaction_exists_only_if_it_balances_per_currency(
    entries: list[JournalEntry],
) -> None:
    totals: defaultdict[str, int] = defaultdict(int)
    for entry in entries:
        totals[entry.currency] += entry.amount
    balanced = len(entries) >= 2 and not any(totals.values())
    if balanced:
        assert _transaction(tuple(entries)).entries == tuple(entries)
    else:
        with pytest.raises(UnbalancedJournalTransaction):
            _transaction(tuple(entries))


def test_money_does_not_move_between_currencies_in_one_transaction() -> None:
    with pytest.raises(UnbalancedJournalTransaction):
        _transaction((JournalEntry("wlt_a", "USD", 100), JournalEntry("wlt_b", "EUR", -100)))


def test_each_movement_books_its_sign_convention() -> None:
    w = wallet()
    context = PostingContext(transaction_id="txn_1", at=T0)
    deposit = book_deposit(w, 1000, context)
    assert {(e.account, e.amount) for e in deposit.entries} == {
        ("system:cash_in:USD", -1000),
        (w.id, 1000),
    }
    withdrawal = book_withdrawal(w, 300, context)
    assert {(e.account, e.amount) for e in withdrawal.entries} == {
        (w.id, -300),
        ("system:cash_out:USD", 300),
    }
    w.place_hold(200, "USD", **NOW)
    out = book_confirmed_hold(w, 200, context)
    assert {(e.account, e.amount) for e in out.entries} == {
        (w.id, -200),
        ("system:clearing:USD", 200),
    }
    w.record_pending_credit(50, "USD")  # the Try of the credit leg, which a Confirm books
    incoming = book_confirmed_pending_credit(w, 50, context)
    assert {(e.account, e.amount) for e in incoming.entries} == {
        ("system:clearing:USD", -50),
        (w.id, 50),
    }
    assert (incoming.balance_after, w.balance, w.frozen) == (550, 550, 0)
    assert all(is_system_account(e.account) != (e.account == w.id) for e in incoming.entries)


def test_a_refused_withdrawal_books_nothing() -> None:
    w = wallet(balance=100)
    with pytest.raises(InsufficientFunds):
        book_withdrawal(w, 101, PostingContext(transaction_id="txn_1", at=T0))
    assert w.balance == 100


@pytest.mark.parametrize("amount", [0, -1, 10**15 + 1])
def test_an_operation_amount_outside_1_to_the_maximum_is_invalid(amount: int) -> None:
    with pytest.raises(ValidationFailed):
        check_operation_amount(amount, max_amount=10**15)
