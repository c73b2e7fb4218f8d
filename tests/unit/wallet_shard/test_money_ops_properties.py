"""Property tests of every operation kind together: deposits, withdrawals, purchases, refunds,
reversals, freezes and transfer legs (Try, Confirm, Cancel) on a few wallets with spending
limits, over days and months. Whatever the sequence:

- every journal transaction balances, and all entries sum to zero per currency;
- every wallet's balance equals the sum of its entries; no available balance is negative;
- refunds never exceed their purchase, and the merchant account holds exactly what purchases
  kept; a transaction is reversed at most once;
- no day's or month's spending passes its limit;
- what a statement derives for each transaction (`balance_change`) is what its entries did to
  the wallet, so opening + Σ items = closing for every period.

A refused operation changes nothing (its DB transaction rolls back).
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from wallet_shard.domain.journal import JournalTransaction, SystemAccount, system_account
from wallet_shard.domain.leg_book import LegBook
from wallet_shard.domain.postings import (
    PostingContext,
    book_deposit,
    book_purchase,
    book_refund,
    book_withdrawal,
)
from wallet_shard.domain.purchases import Purchase
from wallet_shard.domain.reversals import ReversalTarget, book_reversal
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.statements import StatementTally, balance_change
from wallet_shard.domain.transfer_legs import TransferLeg
from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.messages import CancelDebit, ConfirmDebit, Leg, LegCommand, TryDebit

from .factories import T0, wallet

WALLETS = 3
LIMITS = SpendingLimits(daily=6000, monthly=15000)
amounts = st.integers(1, 3000)
wallet_index = st.integers(0, WALLETS - 1)


class MoneyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        currencies = ["USD", "USD", "EUR"]
        self.wallets = [wallet(user_id=f"u{i}", currency=currencies[i]) for i in range(WALLETS)]
        self.wallets[1].limits = SpendingLimits(daily=2500)  # its own, over the default
        self.postings: list[JournalTransaction] = []
        self.purchases: dict[str, Purchase] = {}
        self.legs: dict[tuple[str, Leg], TransferLeg] = {}
        self.now = T0
        self.counter = 0

    def _context(self) -> PostingContext:
        self.counter += 1
        return PostingContext(
            transaction_id=f"txn_{self.counter}", at=self.now, default_limits=LIMITS
        )

    def _attempt(self, operation: Callable[[], None]) -> None:
        """Run `operation`; a refusal leaves every wallet as it was (and the DB transaction
        around it would roll back whatever else it touched)."""
        saved = copy.deepcopy((self.wallets, self.purchases))
        before = copy.deepcopy([vars(w) for w in self.wallets])
        try:
            operation()
        except WalletError as refusal:
            event(f"refused: {refusal.code}")
            assert [vars(w) for w in self.wallets] == before
            self.wallets, self.purchases = saved
        else:
            event(f"booked: {self.postings[-1].type}")

    @rule(days=st.sampled_from([0, 0, 1, 13, 31]))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days, hours=1)

    @rule(target_wallet=wallet_index, amount=st.integers(1, 20_000))
    def deposit(self, target_wallet: int, amount: int) -> None:
        target = self.wallets[target_wallet]
        self._attempt(lambda: self.postings.append(book_deposit(target, amount, self._context())))

    @rule(target_wallet=wallet_index, amount=amounts)
    def withdraw(self, target_wallet: int, amount: int) -> None:
        target = self.wallets[target_wallet]
        self._attempt(
            lambda: self.postings.append(book_withdrawal(target, amount, self._context()))
        )

    @rule(target_wallet=wallet_index, amount=amounts)
    def purchase(self, target_wallet: int, amount: int) -> None:
        target = self.wallets[target_wallet]

        def pay() -> None:
            context = self._context()
            posting, paid = book_purchase(
                target, amount, context, order_id=context.transaction_id, merchant=None
            )
            self.postings.append(posting)
            self.purchases[posting.id] = paid

        self._attempt(pay)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        purchase_id = data.draw(st.sampled_from(sorted(self.purchases)))
        # Mostly within what is left, sometimes beyond it.
        amount = data.draw(st.integers(1, self.purchases[purchase_id].refundable + 100))

        def give_back() -> None:
            paid = self.purchases[purchase_id]
            target = next(w for w in self.wallets if w.id == paid.wallet_id)
            context = self._context()
            linked = PostingContext(context.transaction_id, context.at, related_id=purchase_id)
            self.postings.append(book_refund(target, paid, amount, linked))

        self._attempt(give_back)

    @precondition(lambda self: self.postings)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        original = data.draw(st.sampled_from(self.postings))

        def undo() -> None:
            target = next(w for w in self.wallets if w.id == original.wallet_id)
            reversed_ids = {p.related_id for p in self.postings if p.type == "reversal"}
            purchase_id = original.id if original.type == "purchase" else original.related_id
            self.postings.append(
                book_reversal(
                    target,
                    ReversalTarget(
                        original.id,
                        original.wallet_id,
                        original.type,
                        original.amount,
                        original.related_id,
                        reversed=original.id in reversed_ids,
                    ),
                    self._context(),
                    reason="property",
                    purchase=self.purchases.get(purchase_id or ""),
                )
            )

        self._attempt(undo)

    @rule(target_wallet=wallet_index, freeze=st.sampled_from([True, False, False, False]))
    def toggle_freeze(self, target_wallet: int, freeze: bool) -> None:
        target = self.wallets[target_wallet]
        target.freeze() if freeze else target.unfreeze()

    @rule(source=wallet_index, amount=amounts, confirm=st.booleans())
    def outgoing_transfer(self, source: int, amount: int, confirm: bool) -> None:
        """This shard's debit leg: Try, then Confirm or Cancel (the credit is elsewhere)."""
        self.counter += 1
        transfer_id = f"trf_{self.counter:032x}"
        target = self.wallets[source]
        decision: type[LegCommand] = ConfirmDebit if confirm else CancelDebit
        for kind in (TryDebit, decision):
            if kind is ConfirmDebit and not self.legs[(transfer_id, Leg.DEBIT)].try_answer().ok:
                kind = CancelDebit
            command = kind(
                transfer_id=transfer_id,
                wallet_id=target.id,
                amount=amount,
                currency=target.currency,
            )
            book = LegBook(
                wallets=[target],
                legs=[leg for key, leg in self.legs.items() if key[0] == transfer_id],
                at=self.now,
                default_limits=LIMITS,
            )
            book.apply(command)
            for changed in book.changed_legs(Leg.DEBIT):
                self.legs[changed.key] = changed
            self.postings += book.postings

    # Invariants ------------------------------------------------------------------------------

    @invariant()
    def entries_balance_and_snapshots_match(self) -> None:
        totals: defaultdict[str, int] = defaultdict(int)
        by_account: defaultdict[str, int] = defaultdict(int)
        for posting in self.postings:
            for entry in posting.entries:
                totals[entry.currency] += entry.amount
                by_account[entry.account] += entry.amount
        assert not any(totals.values())
        for w in self.wallets:
            assert w.balance == by_account[w.id]
            assert w.available >= 0
            assert w.frozen >= 0

    @invariant()
    def merchant_holds_what_purchases_kept(self) -> None:
        for currency in ("USD", "EUR"):
            merchant = system_account(SystemAccount.MERCHANT, currency)
            held = sum(e.amount for p in self.postings for e in p.entries if e.account == merchant)
            kept = sum(
                0 if paid.reversed else paid.amount - paid.refunded
                for paid in self.purchases.values()
                if next(w for w in self.wallets if w.id == paid.wallet_id).currency == currency
            )
            assert held == kept
        for paid in self.purchases.values():
            assert 0 <= paid.refunded <= paid.amount
            assert not (paid.reversed and paid.refunded)

    @invariant()
    def reversed_at_most_once(self) -> None:
        reversed_ids = Counter(p.related_id for p in self.postings if p.type == "reversal")
        assert all(times == 1 for times in reversed_ids.values())

    @invariant()
    def spending_stays_within_limits(self) -> None:
        for w in self.wallets:
            limits = w.limits.over(LIMITS)
            assert limits.daily is not None
            assert limits.monthly is not None
            assert w.spending.used_today(self.now) <= limits.daily
            assert w.spending.used_this_month(self.now) <= limits.monthly

    @invariant()
    def statements_add_up(self) -> None:
        for w in self.wallets:
            mine = [p for p in self.postings if p.wallet_id == w.id]
            tally = StatementTally(opening=0)
            for posting in mine:
                reversed_type = (posting.metadata or {}).get("reversed_type")
                change = balance_change(posting.type, posting.amount, reversed_type=reversed_type)
                assert change == sum(e.amount for e in posting.entries if e.account == w.id)
                tally.add(change)
                assert tally.closing == posting.balance_after
            assert tally.closing == w.balance


MoneyMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
TestMoneyOperations = MoneyMachine.TestCase


@given(opening=st.integers(-(10**15), 10**15), changes=st.lists(st.integers(-(10**12), 10**12)))
def test_a_statement_closes_at_its_opening_plus_its_items(opening: int, changes: list[int]) -> None:
    tally = StatementTally(opening=opening)
    for change in changes:
        tally.add(change)
    assert tally.closing == opening + sum(changes)
    assert tally.count == len(changes)
    assert tally.money_in - tally.money_out == tally.net
    assert tally.money_in >= 0
    assert tally.money_out >= 0
