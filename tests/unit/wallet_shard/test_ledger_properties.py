"""Property tests of the ledger rules: whatever sequence of deposits, withdrawals, freezes and
transfer commands (in batches, redelivered, out of order, or breaking the protocol) arrives,

- every journal transaction balances per currency, and all entries sum to zero per currency;
- every wallet's balance equals the sum of its entries, and its frozen amount the sum of its
  active holds; no available balance is ever negative;
- a transfer is booked at most once per side, and the clearing account holds exactly what was
  confirmed on the debit side and not yet on the credit side.

A batch that raises is rolled back, as the DB transaction around it would be.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from wallet_shard.domain.errors import TransferProtocolViolation
from wallet_shard.domain.journal import JournalTransaction, SystemAccount, system_account
from wallet_shard.domain.leg_book import LegBook
from wallet_shard.domain.postings import PostingContext, book_deposit, book_withdrawal
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.transfer_legs import LegState, TransferLeg
from wallet_shard.domain.wallet import Wallet
from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.messages import (
    CancelCredit,
    CancelDebit,
    ConfirmCredit,
    ConfirmDebit,
    Leg,
    LegCommand,
    TryCredit,
    TryDebit,
)

from .factories import T0, wallet

WALLETS = 3
COMMAND_KINDS: tuple[type[LegCommand], ...] = (
    TryDebit,
    TryCredit,
    ConfirmDebit,
    ConfirmCredit,
    CancelDebit,
    CancelCredit,
)


@dataclass(frozen=True)
class PlannedTransfer:
    source: int
    destination: int
    amount: int
    currency: str


class LedgerMachine(RuleBasedStateMachine):
    planned = Bundle("planned")

    def __init__(self) -> None:
        super().__init__()
        currencies = ["USD", "USD", "EUR"]
        self.wallets = [wallet(user_id=f"user{i}", currency=currencies[i]) for i in range(WALLETS)]
        self.legs: dict[tuple[str, Leg], TransferLeg] = {}
        self.postings: list[JournalTransaction] = []
        self.transfers: dict[int, PlannedTransfer] = {}
        self.counter = 0

    def _context(self) -> PostingContext:
        self.counter += 1
        return PostingContext(transaction_id=f"txn_{self.counter}", at=T0)

    @rule(target_wallet=st.integers(0, WALLETS - 1), amount=st.integers(1, 5000))
    def deposit(self, target_wallet: int, amount: int) -> None:
        self._money(book_deposit, self.wallets[target_wallet], amount)

    @rule(target_wallet=st.integers(0, WALLETS - 1), amount=st.integers(1, 5000))
    def withdraw(self, target_wallet: int, amount: int) -> None:
        self._money(book_withdrawal, self.wallets[target_wallet], amount)

    @rule(target_wallet=st.integers(0, WALLETS - 1), freeze=st.booleans())
    def toggle_freeze(self, target_wallet: int, freeze: bool) -> None:
        w = self.wallets[target_wallet]
        w.freeze() if freeze else w.unfreeze()

    @rule(
        target=planned,
        source=st.integers(0, WALLETS - 1),
        destination=st.integers(0, WALLETS - 1),
        amount=st.integers(1, 1000),
        mismatch=st.sampled_from([False, False, False, True]),
    )
    def plan_transfer(self, source: int, destination: int, amount: int, mismatch: bool) -> int:
        """A new transfer the coordinator will run (its plan never changes)."""
        currency = self.wallets[source].currency
        if mismatch:
            currency = "EUR" if currency == "USD" else "USD"
        transfer = len(self.transfers)
        self.transfers[transfer] = PlannedTransfer(source, destination, amount, currency)
        return transfer

    @rule(
        batch=st.lists(
            st.tuples(st.sampled_from(COMMAND_KINDS), planned),
            min_size=1,
            max_size=8,
        ),
        unknown_wallet=st.booleans(),
    )
    def transfer_batch(
        self, batch: list[tuple[type[LegCommand], int]], unknown_wallet: bool
    ) -> None:
        commands = [
            c for kind, t in batch if (c := self._command(kind, t, unknown_wallet)) is not None
        ]
        saved = copy.deepcopy((self.wallets, self.legs))
        book = LegBook(
            wallets=[w for w in self.wallets if w.id in {c.wallet_id for c in commands}],
            legs=[
                leg for key, leg in self.legs.items() if key[0] in {c.transfer_id for c in commands}
            ],
            at=T0,
            default_limits=SpendingLimits(),
        )
        try:
            for c in commands:
                book.apply(c)
        except TransferProtocolViolation:
            event("protocol violation rolled back")
            self.wallets, self.legs = saved  # the batch's DB transaction rolls back
            return
        for leg in (Leg.DEBIT, Leg.CREDIT):
            for changed in book.changed_legs(leg):
                self.legs[changed.key] = changed
        self.postings += book.postings
        for posting in book.postings:
            event(f"booked {posting.type}")

    @rule(transfer=planned, redeliver=st.booleans())
    def coordinator_tries(self, transfer: int, redeliver: bool) -> None:
        """The coordinator's Try on both legs (maybe delivered twice)."""
        kinds = [TryDebit, TryCredit] * (2 if redeliver else 1)
        self.transfer_batch([(kind, transfer) for kind in kinds], unknown_wallet=False)

    @rule(transfer=planned, confirm=st.booleans(), redeliver=st.booleans())
    def coordinator_decides(self, transfer: int, confirm: bool, redeliver: bool) -> None:
        """Confirm when both legs were tried ok (if the coordinator wants to), else Cancel."""
        transfer_id = f"trf_{transfer:032x}"
        tried_ok = all(
            (leg := self.legs.get((transfer_id, side))) is not None
            and leg.state in (LegState.ACTIVE, LegState.CONFIRMED)
            for side in (Leg.DEBIT, Leg.CREDIT)
        )
        kinds = (
            [ConfirmCredit, ConfirmDebit] if confirm and tried_ok else [CancelDebit, CancelCredit]
        )
        kinds *= 2 if redeliver else 1
        self.transfer_batch([(kind, transfer) for kind in kinds], unknown_wallet=False)

    @rule(transfer=planned, confirm=st.booleans(), redeliver=st.booleans())
    def whole_saga(self, transfer: int, confirm: bool, redeliver: bool) -> None:
        """Try then decide, with a deposit that may cover the source first."""
        plan = self.transfers[transfer]
        self.deposit(plan.source, plan.amount)
        self.coordinator_tries(transfer, redeliver)
        self.coordinator_decides(transfer, confirm, redeliver)

    def _command(
        self, kind: type[LegCommand], transfer: int, unknown_wallet: bool
    ) -> LegCommand | None:
        plan = self.transfers[transfer]
        index = plan.source if kind.leg is Leg.DEBIT else plan.destination
        wallet_id = self.wallets[index].id
        if unknown_wallet and index == 0:
            wallet_id = "wlt_000" + "f" * 32
            if (f"trf_{transfer:032x}", kind.leg) in self.legs:
                return None  # the plan of a known leg never changes
        return kind(
            transfer_id=f"trf_{transfer:032x}",
            wallet_id=wallet_id,
            amount=plan.amount,
            currency=plan.currency,
        )

    def _money(self, booking: object, target: Wallet, amount: int) -> None:
        before = (target.balance, target.frozen)
        try:
            self.postings.append(booking(target, amount, self._context()))  # type: ignore[operator]
        except WalletError:
            assert (target.balance, target.frozen) == before

    # Invariants ------------------------------------------------------------------------------

    @invariant()
    def entries_balance_per_currency(self) -> None:
        totals: defaultdict[str, int] = defaultdict(int)
        for posting in self.postings:
            per_transaction: defaultdict[str, int] = defaultdict(int)
            for entry in posting.entries:
                per_transaction[entry.currency] += entry.amount
                totals[entry.currency] += entry.amount
            assert not any(per_transaction.values())
        assert not any(totals.values())

    @invariant()
    def snapshots_match_entries_and_holds(self) -> None:
        by_account: defaultdict[str, int] = defaultdict(int)
        for posting in self.postings:
            for entry in posting.entries:
                by_account[entry.account] += entry.amount
        for w in self.wallets:
            active_holds = sum(
                leg.amount
                for leg in self.legs.values()
                if leg.leg is Leg.DEBIT and leg.state is LegState.ACTIVE and leg.wallet_id == w.id
            )
            assert w.balance == by_account[w.id]
            assert w.frozen == active_holds
            assert w.available >= 0

    @invariant()
    def transfers_book_once_and_clearing_holds_what_is_in_flight(self) -> None:
        booked = Counter((p.transfer_id, p.type) for p in self.postings if p.transfer_id)
        assert all(times == 1 for times in booked.values())
        for currency in ("USD", "EUR"):
            clearing = system_account(SystemAccount.CLEARING, currency)
            in_clearing = sum(
                e.amount for p in self.postings for e in p.entries if e.account == clearing
            )
            confirmed = {
                leg: sum(
                    item.amount
                    for item in self.legs.values()
                    if item.leg is leg
                    and item.state is LegState.CONFIRMED
                    and item.currency == currency
                )
                for leg in (Leg.DEBIT, Leg.CREDIT)
            }
            assert in_clearing == confirmed[Leg.DEBIT] - confirmed[Leg.CREDIT]


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLedgerRules = LedgerMachine.TestCase
