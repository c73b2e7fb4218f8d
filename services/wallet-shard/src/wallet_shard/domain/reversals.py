"""Reversals: a new, linked journal transaction that undoes a deposit, withdrawal, purchase or
refund. The original is never edited; it is reversed at most once.

A transfer is not reversed this way: each side is one half of a movement between two wallets
(possibly on two shards), and undoing one half alone would create or destroy money. Its undo is a
new transfer, which the other side has to accept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from wallet_shared.contracts.errors import (
    AlreadyReversed,
    ReversalNotReversible,
    TransferNotReversible,
)

from wallet_shard.domain.errors import LedgerInvariantViolated
from wallet_shard.domain.journal import JournalTransaction, SystemAccount
from wallet_shard.domain.postings import PostingContext, posting_against
from wallet_shard.domain.purchases import Purchase
from wallet_shard.domain.wallet import Wallet

# What undoing each type books: the system account on the other side, whether the wallet gains.
_UNDO: Final[dict[str, tuple[SystemAccount, bool]]] = {
    "deposit": (SystemAccount.CASH_IN, False),
    "withdrawal": (SystemAccount.CASH_OUT, True),
    "purchase": (SystemAccount.MERCHANT, True),
    "refund": (SystemAccount.MERCHANT, False),
}
_TRANSFER_TYPES: Final = frozenset({"transfer_in", "transfer_out"})


@dataclass(frozen=True, slots=True)
class ReversalTarget:
    """The transaction a reversal names, as the journal holds it."""

    id: str
    wallet_id: str
    type: str
    amount: int
    related_id: str | None
    reversed: bool
    """Whether a reversal of it exists already."""


def check_reversible(original: ReversalTarget) -> None:
    """Refuse what a reversal may not undo, with the reason as its code."""
    if original.type in _TRANSFER_TYPES:
        raise TransferNotReversible(
            "A transfer is not reversed by a reversal: undoing one side alone would create or "
            "destroy money. Send a new transfer back (the other side's owner, or an admin, "
            "starts it)."
        )
    if original.type not in _UNDO:
        raise ReversalNotReversible(
            "A reversal is not reversed; book a new movement to correct it instead."
        )
    if original.reversed:
        raise AlreadyReversed("This transaction was already reversed.")


def book_reversal(
    wallet: Wallet,
    original: ReversalTarget,
    context: PostingContext,
    *,
    reason: str,
    purchase: Purchase | None,
) -> JournalTransaction:
    """Undo `original` on `wallet`; `purchase` is the purchase it is, or a refund refunded."""
    check_reversible(original)
    counterparty, wallet_gains = _UNDO[original.type]
    if original.type in ("purchase", "refund"):
        if purchase is None:
            raise LedgerInvariantViolated(f"{original.type} {original.id} has no purchase row")
        if original.type == "purchase":
            purchase.reverse()
        else:
            purchase.undo_refund(original.amount)
    if wallet_gains:
        wallet.receive_returned(original.amount)
    else:
        wallet.take_back(original.amount)
    linked = replace(
        context,
        reference=original.id,
        related_id=original.id,
        metadata={"reversal_of": original.id, "reversed_type": original.type, "reason": reason},
    )
    return posting_against(
        wallet, "reversal", original.amount, linked, counterparty, wallet_gains=wallet_gains
    )
