"""A wallet: its balance snapshot, what holds freeze of it, and its status.

`available = balance - frozen` is never negative: every method that could break it refuses first.
Methods change the wallet in memory; the journal entries that explain each change are built by
`postings` around these methods, so the snapshot and the entries cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from wallet_shared.contracts.errors import (
    Conflict,
    CurrencyMismatch,
    InsufficientFunds,
    LimitExceeded,
    WalletNotActive,
)
from wallet_shared.contracts.ids import bucket_of_user

from wallet_shard.domain.errors import LedgerInvariantViolated
from wallet_shard.domain.spending import Spending, SpendingLimits

MAX_BALANCE: Final = 9 * 10**18
"""The largest balance a wallet may reach, counting its pending credits (accepted Tries of
incoming transfers): a pending credit holds its room as a hold holds its money, so every Confirm
finds the room its Try took and the column (`BIGINT_MAX`, ~9.22e18) never overflows.
With the maximum per operation (`WALLET_MAX_AMOUNT`, 10^15 by default) both bounds are finite."""

BIGINT_MAX: Final = 2**63 - 1


class WalletStatus(StrEnum):
    """active ⇄ frozen; either → closed (final)."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


@dataclass(eq=False)
class Wallet:
    """One wallet of one user in one currency."""

    id: str
    user_id: str
    currency: str
    label: str | None
    status: WalletStatus
    balance: int
    frozen: int
    created_at: datetime
    updated_at: datetime
    limits: SpendingLimits = field(default_factory=SpendingLimits)
    """The wallet's own limits; None where the configured default applies."""
    spending: Spending = field(default_factory=Spending)
    incoming: int = 0
    """The wallet's pending credits (accepted Tries of incoming transfers) not yet confirmed or
    cancelled: the room under MAX_BALANCE they hold."""

    @classmethod
    def open(
        cls, *, wallet_id: str, user_id: str, currency: str, label: str | None, at: datetime
    ) -> Wallet:
        """A new, empty, active wallet."""
        return cls(wallet_id, user_id, currency, label, WalletStatus.ACTIVE, 0, 0, at, at)

    @property
    def available(self) -> int:
        """What the owner can spend: the balance less what pending outgoing transfers hold."""
        return self.balance - self.frozen

    @property
    def bucket(self) -> int:
        """The owner's virtual bucket, which every id of this wallet's data carries."""
        return bucket_of_user(self.user_id)

    # Money in and out (checked) -------------------------------------------------------------

    def receive(self, amount: int) -> None:
        """Money arriving on the owner's request (a deposit): the wallet must be active."""
        self._require_active()
        self._require_room_for(amount)
        self.balance += amount

    def pay_out(self, amount: int, *, at: datetime, default_limits: SpendingLimits) -> None:
        """Money leaving at once (a withdrawal, a purchase): active, covered by the available
        balance, and within the spending limits."""
        self._require_active()
        self._require_covered(amount)
        self._spend(amount, at, default_limits)
        self.balance -= amount

    # Tries of transfer legs (checked) --------------------------------------------------------

    def place_hold(
        self, amount: int, currency: str, *, at: datetime, default_limits: SpendingLimits
    ) -> None:
        """Hold `amount` for an outgoing transfer (TCC Try of the debit leg); it counts against
        the spending limits from now on."""
        self._require_active()
        self._require_currency(currency)
        self._require_covered(amount)
        self._spend(amount, at, default_limits)
        self.frozen += amount

    def record_pending_credit(self, amount: int, currency: str) -> None:
        """Record a pending credit for an incoming transfer (TCC Try of the credit leg): active,
        same currency, and room under MAX_BALANCE beside every pending credit, which it holds."""
        self._require_active()
        self._require_currency(currency)
        self._require_room_for(amount)
        self.incoming += amount

    # Admin decisions (refunds, reversals): any status but closed -----------------------------

    def receive_returned(self, amount: int) -> None:
        """Money an admin returns to the wallet (a refund, the reversal of a debit). A frozen
        wallet receives it too: it is the owner's own money coming back, and freezing stops
        only the owner's own movements."""
        self._require_open()
        self._require_room_for(amount)
        self.balance += amount

    def take_back(self, amount: int) -> None:
        """Money an admin correction takes back (the reversal of a credit): never beyond the
        available balance."""
        self._require_open()
        self._require_covered(amount)
        self.balance -= amount

    # Confirm or Cancel of accepted Tries (never refused: the coordinator already decided) ----

    def confirm_hold(self, amount: int) -> None:
        """Confirm a hold: it becomes an outgoing payment, even if the wallet was frozen since
        the Try."""
        self._require_held(amount)
        self.frozen -= amount
        self.balance -= amount

    def cancel_hold(self, amount: int, *, placed_at: datetime | None = None) -> None:
        """Cancel a hold: give back what it held, and the limit usage it counted when it was
        placed (`placed_at`)."""
        self._require_held(amount)
        self.frozen -= amount
        if placed_at is not None:
            self.spending.give_back(amount, spent_at=placed_at)

    def confirm_pending_credit(self, amount: int) -> None:
        """Confirm a pending credit: it becomes balance, even if the wallet was frozen since the
        Try: its room was held then."""
        self._require_pending_credit(amount)
        # Unreachable while pending credits hold their room under MAX_BALANCE.
        if self.balance + amount > BIGINT_MAX:
            raise LedgerInvariantViolated(f"wallet {self.id} would overflow its balance column")
        self.incoming -= amount
        self.balance += amount

    def cancel_pending_credit(self, amount: int) -> None:
        """Cancel a pending credit: give back the room it held."""
        self._require_pending_credit(amount)
        self.incoming -= amount

    # Status ---------------------------------------------------------------------------------

    def freeze(self) -> bool:
        """Stop the wallet's own movements; whether anything changed."""
        return self._move_to(WalletStatus.FROZEN)

    def unfreeze(self) -> bool:
        """Let the wallet move money again; whether anything changed."""
        return self._move_to(WalletStatus.ACTIVE)

    def close(self, *, has_pending_credits: bool) -> bool:
        """Close for good: only an empty wallet that nothing is still due to or from."""
        if self.status is WalletStatus.CLOSED:
            return False
        if self.balance != 0 or self.frozen != 0 or has_pending_credits:
            raise Conflict(
                "Only a wallet with a zero balance and no pending transfers can be closed."
            )
        self.status = WalletStatus.CLOSED
        return True

    def _move_to(self, status: WalletStatus) -> bool:
        if self.status is status:
            return False
        if self.status is WalletStatus.CLOSED:
            raise WalletNotActive("The wallet is closed.")
        self.status = status
        return True

    # Guards ---------------------------------------------------------------------------------

    def _spend(self, amount: int, at: datetime, default_limits: SpendingLimits) -> None:
        self.spending.check(amount, at=at, limits=self.limits.over(default_limits))
        self.spending.record(amount, at=at)

    def _require_open(self) -> None:
        if self.status is WalletStatus.CLOSED:
            raise WalletNotActive("The wallet is closed.")

    def _require_active(self) -> None:
        if self.status is not WalletStatus.ACTIVE:
            raise WalletNotActive(f"The wallet is {self.status.value}.")

    def _require_currency(self, currency: str) -> None:
        if currency != self.currency:
            raise CurrencyMismatch(f"The wallet holds {self.currency}, not {currency}.")

    def _require_covered(self, amount: int) -> None:
        if amount > self.available:
            raise InsufficientFunds("The available balance does not cover the amount.")

    def _require_room_for(self, amount: int) -> None:
        if self.balance + self.incoming + amount > MAX_BALANCE:
            raise LimitExceeded("The wallet would pass its maximum balance.")

    def _require_pending_credit(self, amount: int) -> None:
        if amount > self.incoming:
            raise LedgerInvariantViolated(
                f"wallet {self.id}: resolving a pending credit of {amount} but only "
                f"{self.incoming} is pending"
            )

    def _require_held(self, amount: int) -> None:
        if amount > self.frozen or amount > self.balance:
            raise LedgerInvariantViolated(
                f"wallet {self.id}: resolving a hold of {amount} but only {self.frozen} is held"
            )
