"""TCC legs on one shard: holds and pending credits, tombstones, redeliveries, protocol bugs."""

from __future__ import annotations

import pytest
from wallet_shard.domain.errors import CancelAfterConfirm, ConfirmWithoutTry, LegMismatch
from wallet_shard.domain.leg_book import LegBook, LegOutcome
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.transfer_legs import LegState, TryAnswer
from wallet_shard.domain.wallet import MAX_BALANCE, Wallet, WalletStatus
from wallet_shared.contracts.messages import (
    CancelCredit,
    CancelDebit,
    ConfirmCredit,
    ConfirmDebit,
    LegCommand,
    TryCredit,
    TryDebit,
)

from .factories import T0, command, wallet


def book_of(*wallets: Wallet) -> LegBook:
    return LegBook(wallets=wallets, legs=[], at=T0, default_limits=SpendingLimits())


def apply(book: LegBook, kind: type[LegCommand], w: Wallet | str, **kwargs: object) -> LegOutcome:
    wallet_id = w if isinstance(w, str) else w.id
    return book.apply(command(kind, wallet_id, **kwargs))  # type: ignore[arg-type]


def test_try_debit_holds_and_confirm_books_wallet_to_clearing() -> None:
    source = wallet(balance=1000)
    book = book_of(source)
    assert apply(book, TryDebit, source, amount=300).answer == TryAnswer(ok=True)
    assert (source.balance, source.frozen) == (1000, 300)
    posting = apply(book, ConfirmDebit, source, amount=300).posting
    assert posting is not None
    assert posting.type == "transfer_out"
    assert (source.balance, source.frozen) == (700, 0)
    assert book.changed_legs(TryDebit.leg)[0].state is LegState.CONFIRMED


def test_try_credit_records_a_pending_credit_and_confirm_books_clearing_to_wallet() -> None:
    destination = wallet(user_id="bob")
    book = book_of(destination)
    assert apply(book, TryCredit, destination).answer == TryAnswer(ok=True)
    assert destination.balance == 0
    posting = apply(book, ConfirmCredit, destination).posting
    assert posting is not None
    assert posting.type == "transfer_in"
    assert destination.balance == 100


@pytest.mark.parametrize(
    ("setup", "currency", "failure_code"),
    [
        (lambda w: None, "EUR", "currency_mismatch"),
        (lambda w: setattr(w, "status", WalletStatus.FROZEN), "USD", "wallet_not_active"),
        (lambda w: setattr(w, "balance", 99), "USD", "insufficient_funds"),
    ],
)
def test_try_debit_refusals_carry_the_failure_code(
    setup: object, currency: str, failure_code: str
) -> None:
    source = wallet(balance=1000)
    setup(source)  # type: ignore[operator]
    book = book_of(source)
    answer = apply(book, TryDebit, source, currency=currency).answer
    assert answer == TryAnswer(ok=False, failure_code=failure_code)
    assert source.frozen == 0
    # A redelivery answers the same, even once the wallet could afford it.
    source.balance, source.status = 10**6, WalletStatus.ACTIVE
    assert apply(book, TryDebit, source, currency=currency).answer == answer


def test_try_on_an_unknown_wallet_is_refused_not_found() -> None:
    book = book_of()
    missing = "wlt_000" + "0" * 32
    assert apply(book, TryDebit, missing).answer == TryAnswer(False, "not_found")
    assert apply(book, TryCredit, missing).answer == TryAnswer(False, "not_found")


def test_a_redelivered_try_changes_nothing_and_answers_the_same() -> None:
    source = wallet(balance=1000)
    book = book_of(source)
    first = apply(book, TryDebit, source).answer
    again = apply(book, TryDebit, source).answer
    assert first == again == TryAnswer(ok=True)
    assert source.frozen == 100


def test_cancel_before_try_leaves_a_tombstone_and_the_late_try_is_refused() -> None:
    source = wallet(balance=1000)
    book = book_of(source)
    assert apply(book, CancelDebit, source).answer is None
    assert apply(book, TryDebit, source).answer == TryAnswer(False, "cancelled")
    assert source.frozen == 0
    (tombstone,) = book.changed_legs(TryDebit.leg)
    assert (tombstone.state, tombstone.tried) == (LegState.CANCELLED, False)


def test_cancel_releases_the_hold_once() -> None:
    source = wallet(balance=1000)
    book = book_of(source)
    apply(book, TryDebit, source)
    apply(book, CancelDebit, source)
    apply(book, CancelDebit, source)
    assert (source.balance, source.frozen) == (1000, 0)


def test_a_redelivered_confirm_books_once() -> None:
    destination = wallet()
    book = book_of(destination)
    apply(book, TryCredit, destination)
    assert apply(book, ConfirmCredit, destination).posting is not None
    assert apply(book, ConfirmCredit, destination).posting is None
    assert destination.balance == 100
    assert len(book.postings) == 1


def test_confirm_credit_succeeds_after_the_wallet_was_frozen() -> None:
    destination = wallet()
    book = book_of(destination)
    apply(book, TryCredit, destination)
    destination.freeze()
    apply(book, ConfirmCredit, destination)
    assert destination.balance == 100


@pytest.mark.parametrize("first", [None, CancelDebit, TryDebit])
def test_confirm_without_a_successful_try_is_a_protocol_violation(
    first: type[LegCommand] | None,
) -> None:
    source = wallet(balance=0)  # so that a TryDebit is refused
    book = book_of(source)
    if first is not None:
        apply(book, first, source)
    with pytest.raises(ConfirmWithoutTry):
        apply(book, ConfirmDebit, source)


def test_cancel_after_confirm_is_a_protocol_violation() -> None:
    destination = wallet()
    book = book_of(destination)
    apply(book, TryCredit, destination)
    apply(book, ConfirmCredit, destination)
    with pytest.raises(CancelAfterConfirm):
        apply(book, CancelCredit, destination)


def test_a_command_naming_a_known_leg_with_another_amount_is_a_mismatch() -> None:
    source = wallet(balance=1000)
    book = book_of(source)
    apply(book, TryDebit, source, amount=100)
    with pytest.raises(LegMismatch):
        apply(book, ConfirmDebit, source, amount=200)


def test_a_credit_try_reserves_room_under_the_maximum_that_its_cancel_gives_back() -> None:
    destination = wallet(balance=MAX_BALANCE - 150)
    book = book_of(destination)
    first, second = "trf_" + "1" * 32, "trf_" + "2" * 32
    assert apply(book, TryCredit, destination, amount=100, transfer_id=first).answer == TryAnswer(
        ok=True
    )
    refused = apply(book, TryCredit, destination, amount=100, transfer_id=second).answer
    assert refused == TryAnswer(ok=False, failure_code="limit_exceeded")
    assert destination.incoming == 100
    apply(book, CancelCredit, destination, amount=100, transfer_id=first)
    assert destination.incoming == 0
    third = "trf_" + "3" * 32
    assert apply(book, TryCredit, destination, amount=150, transfer_id=third).answer.ok  # type: ignore[union-attr]
    apply(book, ConfirmCredit, destination, amount=150, transfer_id=third)
    assert (destination.balance, destination.incoming) == (MAX_BALANCE, 0)
