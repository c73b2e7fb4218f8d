"""A transfer between two wallets of one shard: the saga's steps at once, in memory."""

from __future__ import annotations

from wallet_shard.domain.leg_book import LegBook
from wallet_shard.domain.local_transfers import LocalTransferRequest, book_local_transfer
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.transfer_legs import LegState
from wallet_shard.domain.wallet import Wallet, WalletStatus
from wallet_shared.contracts.messages import Leg

from .factories import T0, wallet

TRANSFER = "trf_001" + "b" * 32


def request(source: Wallet, destination_id: str, amount: int = 300) -> LocalTransferRequest:
    return LocalTransferRequest(
        source_wallet_id=source.id,
        destination_wallet_id=destination_id,
        amount=amount,
        currency=source.currency,
        description="rent",
        initiator="alice",
    )


def book_of(*wallets: Wallet, limits: SpendingLimits | None = None) -> LegBook:
    return LegBook(wallets=wallets, legs=[], at=T0, default_limits=limits or SpendingLimits())


def test_a_completed_transfer_moves_money_through_clearing_and_resolves_both_legs() -> None:
    alice, bob = wallet(balance=1000), wallet(user_id="bob")
    book = book_of(alice, bob)
    booking = book_local_transfer(book, TRANSFER, request(alice, bob.id), at=T0)

    assert (booking.transfer.status, booking.transfer.failure_code) == ("completed", None)
    assert (alice.balance, alice.frozen, bob.balance) == (700, 0, 300)
    postings = [o.posting for o in booking.outcomes if o.posting is not None]
    assert [(p.type, p.wallet_id, p.amount) for p in postings] == [
        ("transfer_out", alice.id, 300),
        ("transfer_in", bob.id, 300),
    ]
    # The clearing account nets to zero: what the debit put in, the credit took out.
    clearing = [e.amount for p in postings for e in p.entries if e.account.startswith("system:")]
    assert sum(clearing) == 0
    assert [leg.state for leg in book.changed_legs(Leg.DEBIT)] == [LegState.CONFIRMED]
    assert [leg.state for leg in book.changed_legs(Leg.CREDIT)] == [LegState.CONFIRMED]


def test_too_little_money_cancels_it_and_moves_nothing() -> None:
    alice, bob = wallet(balance=100), wallet(user_id="bob")
    book = book_of(alice, bob)
    booking = book_local_transfer(book, TRANSFER, request(alice, bob.id), at=T0)

    assert (booking.transfer.status, booking.transfer.failure_code) == (
        "cancelled",
        "insufficient_funds",
    )
    assert (alice.balance, alice.frozen, bob.balance) == (100, 0, 0)
    assert all(o.posting is None for o in booking.outcomes)


def test_the_destination_decides_when_the_source_could_pay() -> None:
    alice, bob = wallet(balance=1000), wallet(user_id="bob")
    bob.status = WalletStatus.FROZEN
    booking = book_local_transfer(book_of(alice, bob), TRANSFER, request(alice, bob.id), at=T0)
    assert booking.transfer.failure_code == "wallet_not_active"
    assert (alice.balance, alice.frozen) == (1000, 0)  # the hold was released

    euros = wallet(user_id="carol", currency="EUR")
    booking = book_local_transfer(book_of(alice, euros), TRANSFER, request(alice, euros.id), at=T0)
    assert booking.transfer.failure_code == "currency_mismatch"

    missing = "wlt_001" + "c" * 32
    booking = book_local_transfer(book_of(alice), TRANSFER, request(alice, missing), at=T0)
    assert booking.transfer.failure_code == "not_found"
    assert (alice.balance, alice.frozen) == (1000, 0)


def test_spending_limits_count_a_local_transfer_and_refuse_beyond_them() -> None:
    alice, bob = wallet(balance=1000), wallet(user_id="bob")
    book = book_of(alice, bob, limits=SpendingLimits(daily=500, monthly=None))
    first = book_local_transfer(book, TRANSFER, request(alice, bob.id, 400), at=T0)
    second = book_local_transfer(book, "trf_001" + "d" * 32, request(alice, bob.id, 200), at=T0)
    assert first.transfer.status == "completed"
    assert (second.transfer.status, second.transfer.failure_code) == ("cancelled", "limit_exceeded")
    assert (alice.balance, bob.balance) == (600, 400)
