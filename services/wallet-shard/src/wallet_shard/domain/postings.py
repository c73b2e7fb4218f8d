"""What each movement books: the wallet's change and the journal transaction explaining it.

Each function changes the wallet and returns the balanced journal transaction in one step, so a
balance snapshot never moves without its entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.schemas import TransactionType

from wallet_shard.domain.journal import (
    JournalEntry,
    JournalTransaction,
    SystemAccount,
    system_account,
)
from wallet_shard.domain.purchases import Purchase
from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.wallet import Wallet


@dataclass(frozen=True, slots=True)
class PostingContext:
    """What a journal transaction records besides the amounts."""

    transaction_id: str
    at: datetime
    reference: str | None = None
    transfer_id: str | None = None
    metadata: dict[str, Any] | None = None
    related_id: str | None = None
    default_limits: SpendingLimits = field(default_factory=SpendingLimits)
    """The configured spending limits, for a wallet that has none of its own."""


def check_operation_amount(amount: int, *, max_amount: int) -> None:
    """An amount a single operation may move: 1 to the configured maximum."""
    if not 1 <= amount <= max_amount:
        raise ValidationFailed(
            "The amount is not valid.",
            errors=[{"field": "amount", "message": f"must be between 1 and {max_amount}"}],
        )


def book_deposit(wallet: Wallet, amount: int, context: PostingContext) -> JournalTransaction:
    """External money in: cash-in -a, wallet +a."""
    wallet.receive(amount)
    return posting_against(
        wallet, "deposit", amount, context, SystemAccount.CASH_IN, wallet_gains=True
    )


def book_withdrawal(wallet: Wallet, amount: int, context: PostingContext) -> JournalTransaction:
    """External money out: wallet -a, cash-out +a (within the spending limits)."""
    wallet.pay_out(amount, at=context.at, default_limits=context.default_limits)
    return posting_against(
        wallet, "withdrawal", amount, context, SystemAccount.CASH_OUT, wallet_gains=False
    )


def book_purchase(
    wallet: Wallet, amount: int, context: PostingContext, *, order_id: str, merchant: str | None
) -> tuple[JournalTransaction, Purchase]:
    """The wallet pays an order: wallet -a, merchant settlement +a (within the limits)."""
    wallet.pay_out(amount, at=context.at, default_limits=context.default_limits)
    posting = posting_against(
        wallet, "purchase", amount, context, SystemAccount.MERCHANT, wallet_gains=False
    )
    purchase = Purchase(
        transaction_id=posting.id,
        wallet_id=wallet.id,
        order_id=order_id,
        merchant=merchant,
        amount=amount,
        created_at=context.at,
    )
    return posting, purchase


def book_refund(
    wallet: Wallet, purchase: Purchase, amount: int, context: PostingContext
) -> JournalTransaction:
    """Part or all of a purchase comes back: merchant settlement -a, wallet +a."""
    purchase.refund(amount)
    wallet.receive_returned(amount)
    return posting_against(
        wallet, "refund", amount, context, SystemAccount.MERCHANT, wallet_gains=True
    )


def book_confirmed_hold(wallet: Wallet, amount: int, context: PostingContext) -> JournalTransaction:
    """A confirmed hold leaves the wallet for the clearing account: wallet -a, clearing +a."""
    wallet.confirm_hold(amount)
    return posting_against(
        wallet, "transfer_out", amount, context, SystemAccount.CLEARING, wallet_gains=False
    )


def book_confirmed_pending_credit(
    wallet: Wallet, amount: int, context: PostingContext
) -> JournalTransaction:
    """A confirmed pending credit arrives from the clearing account: clearing -a, wallet +a."""
    wallet.confirm_pending_credit(amount)
    return posting_against(
        wallet, "transfer_in", amount, context, SystemAccount.CLEARING, wallet_gains=True
    )


def posting_against(
    wallet: Wallet,
    kind: TransactionType,
    amount: int,
    context: PostingContext,
    counterparty: SystemAccount,
    *,
    wallet_gains: bool,
) -> JournalTransaction:
    """The two entries of a movement between `wallet` and a system account of its currency;
    the wallet's snapshot must already show the movement."""
    wallet_side = amount if wallet_gains else -amount
    wallet.updated_at = context.at
    return JournalTransaction(
        id=context.transaction_id,
        wallet_id=wallet.id,
        type=kind,
        amount=amount,
        balance_after=wallet.balance,
        entries=(
            JournalEntry(
                system_account(counterparty, wallet.currency), wallet.currency, -wallet_side
            ),
            JournalEntry(wallet.id, wallet.currency, wallet_side),
        ),
        created_at=context.at,
        reference=context.reference,
        transfer_id=context.transfer_id,
        metadata=context.metadata,
        related_id=context.related_id,
    )
