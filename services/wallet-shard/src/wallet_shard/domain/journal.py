"""Double-entry journal: every movement is a journal transaction of >= 2 entries that sum to zero
per currency.

Sign convention (docs/internals.md): an entry's amount is what its account gains. User wallets are
accounts named by their wallet id; system accounts are names, not rows (`system:cash_in:USD`), so
that no system account becomes a hot row: their balances are sums of entries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from wallet_shared.contracts.schemas import TransactionType

from wallet_shard.domain.errors import UnbalancedJournalTransaction

SYSTEM_ACCOUNT_PREFIX: Final = "system:"


class SystemAccount(StrEnum):
    """The shard's accounts per currency besides user wallets."""

    CASH_IN = "cash_in"
    """Where deposits come from (external money entering)."""
    CASH_OUT = "cash_out"
    """Where withdrawals go (external money leaving)."""
    MERCHANT = "merchant"
    """Merchant settlement: purchases go to it, refunds come from it."""
    CLEARING = "clearing"
    """Carries money between shards while a transfer is confirmed on one side only."""


def system_account(kind: SystemAccount, currency: str) -> str:
    """The account name of a system account, e.g. `system:clearing:EUR`."""
    return f"{SYSTEM_ACCOUNT_PREFIX}{kind.value}:{currency}"


def is_system_account(account: str) -> bool:
    """Whether an account name is a system account rather than a wallet."""
    return account.startswith(SYSTEM_ACCOUNT_PREFIX)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of a journal transaction: `amount` is what `account` gains (negative: loses)."""

    account: str
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class JournalTransaction:
    """A balanced set of entries, seen by the API as a transaction of one wallet.

    Construction refuses unbalanced entries, so an unbalanced transaction cannot exist.
    """

    id: str
    wallet_id: str
    type: TransactionType
    amount: int
    balance_after: int
    entries: tuple[JournalEntry, ...]
    created_at: datetime
    reference: str | None = None
    transfer_id: str | None = None
    metadata: dict[str, Any] | None = None
    related_id: str | None = None
    """The purchase a refund gives money back for, or the transaction a reversal undoes."""

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise UnbalancedJournalTransaction(f"{self.id}: amount must be positive")
        check_balanced(self.entries, transaction_id=self.id)


def check_balanced(entries: tuple[JournalEntry, ...], *, transaction_id: str) -> None:
    """Refuse entries that are fewer than two, zero, or do not sum to zero per currency."""
    if len(entries) < 2:
        raise UnbalancedJournalTransaction(f"{transaction_id}: needs at least two entries")
    totals: defaultdict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.amount == 0:
            raise UnbalancedJournalTransaction(f"{transaction_id}: an entry of zero")
        totals[entry.currency] += entry.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedJournalTransaction(f"{transaction_id}: entries sum to {unbalanced}")
