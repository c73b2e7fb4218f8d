"""A purchase: the order a wallet paid, and what refunds have given back of it.

Refunds of one purchase never add up to more than the purchase: each refund takes from what is
left, under the paying wallet's row lock. A reversed purchase has nothing left to refund, and a
purchase that refunds gave money back for is not reversed (that would return the money twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wallet_shared.contracts.errors import PurchaseRefunded, RefundExceedsPurchase

from wallet_shard.domain.errors import LedgerInvariantViolated


@dataclass(eq=False)
class Purchase:
    """One purchase of one wallet (its id is the purchase transaction's)."""

    transaction_id: str
    wallet_id: str
    order_id: str
    merchant: str | None
    amount: int
    created_at: datetime
    refunded: int = 0
    reversed: bool = False

    @property
    def refundable(self) -> int:
        """What refunds may still give back."""
        return 0 if self.reversed else self.amount - self.refunded

    def refund(self, amount: int) -> None:
        """Take `amount` from what is left; `RefundExceedsPurchase` beyond it."""
        if self.reversed:
            raise RefundExceedsPurchase("The purchase was reversed: nothing is left to refund.")
        if amount > self.refundable:
            raise RefundExceedsPurchase(
                f"Only {self.refundable} of the purchase's {self.amount} is left to refund."
            )
        self.refunded += amount

    def undo_refund(self, amount: int) -> None:
        """A refund of this purchase was reversed: its amount may be refunded again."""
        if amount > self.refunded:
            raise LedgerInvariantViolated(
                f"purchase {self.transaction_id}: undoing {amount} of {self.refunded} refunded"
            )
        self.refunded -= amount

    def reverse(self) -> None:
        """The purchase itself is undone; refunds must be reversed first."""
        if self.refunded:
            raise PurchaseRefunded(
                f"Refunds gave back {self.refunded} of this purchase: reverse them first, "
                "or refund what is left."
            )
        self.reversed = True
