"""Errors of the shard's own rules that no client is ever shown.

Client-facing refusals (insufficient funds, wallet not active...) are the shared
`wallet_shared.contracts.errors` classes. These ones mean a bug somewhere: in the coordinator when a
transfer command breaks the TCC protocol, here when the ledger's own invariants do not hold.
Neither is cured by a retry, so a consumer sends the command to its dead letters.
"""

from __future__ import annotations


class LedgerInvariantViolated(Exception):
    """State the ledger rules make impossible (an unbalanced posting, a hold larger than frozen)."""


class UnbalancedJournalTransaction(LedgerInvariantViolated):
    """A journal transaction whose entries do not sum to zero per currency, or has < 2 entries."""


class TransferProtocolViolation(Exception):
    """A transfer command that the TCC protocol forbids in the leg's current state."""


class ConfirmWithoutTry(TransferProtocolViolation):
    """Confirm of a leg that was never tried successfully (unknown, refused or cancelled)."""


class CancelAfterConfirm(TransferProtocolViolation):
    """Cancel of a leg that is already confirmed: the money has moved; only a reversal undoes it."""


class LegMismatch(TransferProtocolViolation):
    """A command naming a known leg with another wallet, amount or currency."""
