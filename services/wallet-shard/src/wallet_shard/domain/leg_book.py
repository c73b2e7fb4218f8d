"""Applies a batch of transfer commands to the wallets and legs it touches, in memory.

The service layer loads (and locks) everything a batch names, applies every command here in
order, then saves what changed in a few set-based statements: one DB transaction per batch. A
command repeated within the batch sees the effect of the first one, exactly as a redelivery in a
later batch would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.ids import new_transaction_id
from wallet_shared.contracts.messages import Leg, LegCommand, Step

from wallet_shard.domain.errors import ConfirmWithoutTry, LedgerInvariantViolated
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.postings import (
    PostingContext,
    book_confirmed_hold,
    book_confirmed_pending_credit,
)
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.transfer_legs import TransferLeg, TryAnswer
from wallet_shard.domain.wallet import Wallet

NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """What one command did: the Try answer (for Try), and the journal transaction it booked."""

    command: LegCommand
    answer: TryAnswer | None = None
    posting: JournalTransaction | None = None


def _fresh_transaction_id(wallet: Wallet) -> str:
    return new_transaction_id(wallet.bucket)


class LegBook:
    """The wallets and transfer legs of one batch, and what the batch changed."""

    def __init__(
        self,
        *,
        wallets: Iterable[Wallet],
        legs: Iterable[TransferLeg],
        at: datetime,
        default_limits: SpendingLimits,
        transaction_id_for: Callable[[Wallet], str] = _fresh_transaction_id,
    ) -> None:
        self._wallets = {wallet.id: wallet for wallet in wallets}
        self._legs = {leg.key: leg for leg in legs}
        self._at = at
        self._default_limits = default_limits
        self._transaction_id_for = transaction_id_for
        self._changed_wallets: dict[str, Wallet] = {}
        self._changed_legs: dict[tuple[str, Leg], TransferLeg] = {}
        self.postings: list[JournalTransaction] = []

    @property
    def at(self) -> datetime:
        """The instant the batch is booked at."""
        return self._at

    def wallet(self, wallet_id: str) -> Wallet | None:
        """A wallet of the book (locked by whoever loaded it), or None when it does not exist."""
        return self._wallets.get(wallet_id)

    def changed_wallets(self) -> list[Wallet]:
        """Wallets whose balance or frozen amount changed, in id order (the lock order)."""
        return [self._changed_wallets[key] for key in sorted(self._changed_wallets)]

    def changed_legs(self, leg: Leg) -> list[TransferLeg]:
        """Holds (debit) or pending credits (credit) created or resolved by the batch."""
        return [item for key, item in self._changed_legs.items() if key[1] is leg]

    def apply(self, command: LegCommand) -> LegOutcome:
        """Apply one command; a protocol violation raises (the command is a coordinator bug)."""
        leg = self._legs.get((command.transfer_id, command.leg))
        if leg is not None:
            leg.check_same_as(command)
        if command.step is Step.TRY:
            return LegOutcome(command, answer=self._try(command, leg))
        if command.step is Step.CONFIRM:
            return LegOutcome(command, posting=self._confirm(command, leg))
        self._cancel(command, leg)
        return LegOutcome(command)

    def _try(self, command: LegCommand, leg: TransferLeg | None) -> TryAnswer:
        if leg is None:
            failure_code = self._try_on_wallet(command)
            leg = (
                TransferLeg.accepted(command, placed_at=self._at)
                if failure_code is None
                else TransferLeg.refused(command, failure_code)
            )
            self._record(leg)
        return leg.try_answer()

    def _try_on_wallet(self, command: LegCommand) -> str | None:
        """Place the hold or record the pending credit; the failure code, if refused."""
        wallet = self._wallets.get(command.wallet_id)
        if wallet is None:
            return NOT_FOUND
        try:
            if command.leg is Leg.DEBIT:
                wallet.place_hold(
                    command.amount,
                    command.currency,
                    at=self._at,
                    default_limits=self._default_limits,
                )
            else:
                wallet.record_pending_credit(command.amount, command.currency)
            self._touch(wallet)
        except WalletError as refusal:
            return refusal.code
        return None

    def _confirm(self, command: LegCommand, leg: TransferLeg | None) -> JournalTransaction | None:
        if leg is None:
            raise ConfirmWithoutTry(f"transfer {command.transfer_id} was never tried here")
        if not leg.confirm():
            return None
        self._record(leg)
        wallet = self._wallet_of(leg)
        context = PostingContext(
            transaction_id=self._transaction_id_for(wallet),
            at=self._at,
            transfer_id=leg.transfer_id,
        )
        book = book_confirmed_hold if leg.leg is Leg.DEBIT else book_confirmed_pending_credit
        posting = book(wallet, leg.amount, context)
        self._touch(wallet)
        self.postings.append(posting)
        return posting

    def _cancel(self, command: LegCommand, leg: TransferLeg | None) -> None:
        if leg is None:
            self._record(TransferLeg.tombstone(command))
            return
        if leg.cancel():
            self._record(leg)
            wallet = self._wallet_of(leg)
            if leg.leg is Leg.DEBIT:
                wallet.cancel_hold(leg.amount, placed_at=leg.placed_at)
            else:
                wallet.cancel_pending_credit(leg.amount)
            self._touch(wallet)

    def _wallet_of(self, leg: TransferLeg) -> Wallet:
        wallet = self._wallets.get(leg.wallet_id)
        if wallet is None:
            raise LedgerInvariantViolated(
                f"transfer {leg.transfer_id}: active leg on missing wallet {leg.wallet_id}"
            )
        return wallet

    def _record(self, leg: TransferLeg) -> None:
        self._legs[leg.key] = leg
        self._changed_legs[leg.key] = leg

    def _touch(self, wallet: Wallet) -> None:
        wallet.updated_at = self._at
        self._changed_wallets[wallet.id] = wallet
