"""The ledger verification out of the shards' recomputed snapshots and the coordinator's sagas.

Each shard recomputes its wallets' balance, frozen and incoming from its own rows. What no
shard can tell alone is whether its open legs belong to open sagas: a hold must be the debit of
a pending transfer from that wallet, of that amount and currency; a pending credit the credit
of a pending transfer to that wallet. A leg whose transfer is final, or that the coordinator
does not know, or that names another wallet or amount, holds money (or room) for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from wallet_shared.contracts.ledger_admin import (
    LedgerDifference,
    LedgerVerification,
    OpenLeg,
    ShardLedgerVerification,
    ShardVerificationSummary,
)

from gateway.domain.routing import shard_name


@dataclass(frozen=True, slots=True)
class SagaView:
    """What the verification needs of a transfer saga."""

    id: str
    source_wallet_id: str
    destination_wallet_id: str
    amount: int
    currency: str
    status: str


def open_transfer_ids(shards: Sequence[ShardLedgerVerification]) -> list[str]:
    """Every transfer with an open leg on some shard, sorted."""
    return sorted({leg.transfer_id for part in shards for leg in part.open_legs})


def legs_without_their_saga(
    part: ShardLedgerVerification, sagas: Mapping[str, SagaView]
) -> list[LedgerDifference]:
    """The open legs of one shard that no pending saga accounts for."""
    return [
        difference
        for leg in part.open_legs
        if (difference := _leg_difference(part.shard, leg, sagas.get(leg.transfer_id))) is not None
    ]


def _leg_difference(shard: int, leg: OpenLeg, saga: SagaView | None) -> LedgerDifference | None:
    kind = "hold" if leg.leg == "debit" else "pending_credit"
    what = "hold" if leg.leg == "debit" else "pending credit"
    if saga is None:
        problem = f"{what} of transfer {leg.transfer_id}, which the coordinator does not know"
        expected = 0
    elif saga.status != "pending":
        problem = f"{what} still open, but transfer {leg.transfer_id} is {saga.status}"
        expected = 0
    else:
        wallet = saga.source_wallet_id if leg.leg == "debit" else saga.destination_wallet_id
        if (wallet, saga.amount, saga.currency) == (leg.wallet_id, leg.amount, leg.currency):
            return None
        problem = (
            f"{what} of {leg.amount} {leg.currency} on this wallet, but transfer "
            f"{leg.transfer_id} moves {saga.amount} {saga.currency} for wallet {wallet}"
        )
        expected = saga.amount if wallet == leg.wallet_id else 0
    return LedgerDifference(
        shard=shard_name(shard),
        kind=kind,
        wallet_id=leg.wallet_id,
        transfer_id=leg.transfer_id,
        expected=expected,
        actual=leg.amount,
        detail=problem,
    )


def snapshot_differences(part: ShardLedgerVerification) -> list[LedgerDifference]:
    """One shard's wallets whose snapshot columns disagree with the rows they sum."""
    source = {"balance": "journal entries", "frozen": "active holds", "incoming": "pending credits"}
    return [
        LedgerDifference(
            shard=shard_name(part.shard),
            kind=d.column,
            wallet_id=d.wallet_id,
            expected=d.recomputed,
            actual=d.snapshot,
            detail=f"{d.column} is {d.snapshot} but its {source[d.column]} sum to {d.recomputed}",
        )
        for d in part.differences
    ]


def build_verification(
    shards: Sequence[ShardLedgerVerification],
    sagas: Mapping[str, SagaView],
    *,
    checked_at: datetime,
) -> LedgerVerification:
    """Every difference, per shard, and one verdict."""
    differences: list[LedgerDifference] = []
    summaries: list[ShardVerificationSummary] = []
    for part in shards:
        found = snapshot_differences(part) + legs_without_their_saga(part, sagas)
        differences += found
        summaries.append(
            ShardVerificationSummary(
                shard=shard_name(part.shard),
                wallets_checked=part.wallets_checked,
                open_holds=sum(1 for leg in part.open_legs if leg.leg == "debit"),
                open_pending_credits=sum(1 for leg in part.open_legs if leg.leg == "credit"),
                differences=len(found),
                truncated=part.differences_truncated,
            )
        )
    return LedgerVerification(
        consistent=not differences and not any(part.differences_truncated for part in shards),
        checked_at=checked_at,
        shards=summaries,
        open_transfers=len(open_transfer_ids(shards)),
        differences=differences,
    )
