"""Statements: the balance before a period, every transaction of the period with what it changed,
and the balance after it. `opening + Σ changes = closing`, by construction and by test.

What a transaction changes follows from its type alone, except for a reversal, which changes the
balance the other way round from the transaction it undoes (recorded as `reversed_type`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wallet_shard.domain.errors import LedgerInvariantViolated

CREDIT_TYPES: Final = frozenset({"deposit", "refund", "transfer_in"})
DEBIT_TYPES: Final = frozenset({"withdrawal", "purchase", "transfer_out"})


def balance_change(kind: str, amount: int, *, reversed_type: str | None = None) -> int:
    """What a transaction of `kind` and `amount` did to its wallet's balance (signed)."""
    if kind in CREDIT_TYPES:
        return amount
    if kind in DEBIT_TYPES:
        return -amount
    if kind == "reversal" and reversed_type is not None and reversed_type != "reversal":
        return -balance_change(reversed_type, amount)
    raise LedgerInvariantViolated(f"no balance change known for {kind} of {reversed_type}")


@dataclass(slots=True)
class StatementTally:
    """Running figures of a statement, fed one item at a time (constant memory)."""

    opening: int
    count: int = 0
    money_in: int = 0
    money_out: int = 0

    def add(self, change: int) -> None:
        self.count += 1
        if change >= 0:
            self.money_in += change
        else:
            self.money_out -= change

    @property
    def net(self) -> int:
        return self.money_in - self.money_out

    @property
    def closing(self) -> int:
        return self.opening + self.net
