"""The shapes of the ledger's maintenance routes: verification and rebuild of balance snapshots.

Shards answer the internal forms, the gateway the public ones (`/v1/admin/ledger/...`), and the
`wallet ledger` commands read them; one module so that all three agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from wallet_shared.contracts.money import MoneyOut
from wallet_shared.contracts.schemas import EntityId, RequestModel

SnapshotColumn = Literal["balance", "frozen", "incoming"]
"""The columns of a wallet row that are sums of other rows: its entries, its active holds, its
active pending credits."""

MAX_REBUILD_PAGE = 500


class WalletDifference(BaseModel):
    """A wallet whose snapshot column disagrees with what its rows sum to."""

    wallet_id: str
    column: SnapshotColumn
    snapshot: MoneyOut = Field(description="What the wallet row says.")
    recomputed: MoneyOut = Field(description="What the ledger (or the legs) sum to.")


class OpenLeg(BaseModel):
    """A hold (debit leg) or pending credit (credit leg) not yet confirmed or cancelled."""

    transfer_id: str
    leg: Literal["debit", "credit"]
    wallet_id: str
    amount: MoneyOut
    currency: str


class ShardLedgerVerification(BaseModel):
    """One shard's verification, read from one REPEATABLE READ snapshot (internal route)."""

    shard: int
    checked_at: datetime
    wallets_checked: int
    differences: list[WalletDifference]
    differences_truncated: bool = Field(
        description="More wallets differ than were listed (the list stops at a bound)."
    )
    open_legs: list[OpenLeg]


LedgerDifferenceKind = Literal["balance", "frozen", "incoming", "hold", "pending_credit"]


class LedgerDifference(BaseModel):
    """One difference between a snapshot and what it is recomputed from."""

    shard: str
    kind: LedgerDifferenceKind
    wallet_id: str
    transfer_id: str | None = None
    expected: MoneyOut | None = Field(description="Recomputed from the ledger or the sagas.")
    actual: MoneyOut | None = Field(description="What the shard has.")
    detail: str


class ShardVerificationSummary(BaseModel):
    shard: str
    wallets_checked: int
    open_holds: int
    open_pending_credits: int
    differences: int
    truncated: bool


class LedgerVerification(BaseModel):
    """`GET /v1/admin/ledger/verify`: every balance recomputed from the ledger on every shard,
    every frozen amount from the active holds, every hold and pending credit against its saga."""

    consistent: bool
    checked_at: datetime
    shards: list[ShardVerificationSummary]
    open_transfers: int = Field(description="Transfers with an open hold or pending credit.")
    differences: list[LedgerDifference]


class RebuildRequest(RequestModel):
    """One wallet (`wallet_id`), or the next page of a shard's wallets in id order."""

    wallet_id: EntityId | None = None
    shard: int | None = Field(default=None, ge=0, description="With no wallet_id: which shard.")
    after: EntityId | None = Field(default=None, description="The last wallet id of a page.")
    limit: int = Field(default=100, ge=1, le=MAX_REBUILD_PAGE)


RebuildOutcome = Literal["unchanged", "rebuilt", "refused"]


class WalletRebuild(BaseModel):
    """What rebuilding one wallet's snapshot did."""

    wallet_id: str
    outcome: RebuildOutcome
    reason: str | None = None
    balance_before: MoneyOut
    balance_after: MoneyOut
    frozen_before: MoneyOut
    frozen_after: MoneyOut
    incoming_before: MoneyOut
    incoming_after: MoneyOut


class RebuildPage(BaseModel):
    shard: str
    items: list[WalletRebuild]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null: done.")
    wallets_total: int = Field(description="Wallets on the shard (for progress).")
