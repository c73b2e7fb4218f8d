"""Verify and rebuild the wallets' balance snapshots from the ledger (`wallet ledger ...`).

Verification is read-only and safe on a live shard: one REPEATABLE READ, read-only transaction,
so every sum is taken at one instant while money keeps moving. A rebuild repairs one wallet at
a time, in a transaction of its own under the wallet's row lock (the lock every movement of the
wallet takes), and refuses a wallet with money in flight: while a hold or pending credit is
open, its saga may still confirm it, and only the protocol may resolve it.
"""

from __future__ import annotations

from typing import Final, Literal, cast

import asyncpg
from wallet_shared.contracts.errors import ServiceUnavailable
from wallet_shared.contracts.ledger_admin import (
    OpenLeg,
    RebuildPage,
    ShardLedgerVerification,
    SnapshotColumn,
    WalletDifference,
    WalletRebuild,
)
from wallet_shared.platform.audit import AuditEntry, record_actions
from wallet_shared.platform.logging import current_trace_id

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.adapters.snapshot_queries import LockedSnapshot, SnapshotQueries
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork

MAX_DIFFERENCES: Final = 1000
"""Differences listed per shard: a badly broken shard still answers a readable report."""

REBUILD_ACTION: Final = "wallet.ledger_rebuild"

VERIFY_STATEMENT_TIMEOUT_MS: Final = 90_000
"""A verification's statements are cancelled after this long: the gateway stops waiting for the
shard's answer a little later (WALLET_LEDGER_MAINTENANCE_TIMEOUT_S, 100 s), so a verification no
one waits for any more does not go on holding a snapshot open."""


async def verify_ledger(uow: UnitOfWork, shard: ShardContext) -> ShardLedgerVerification:
    """Every wallet's snapshot columns against its rows, and the open legs, at one instant."""
    try:
        async with uow.reading_snapshot() as repos:
            await repos.conn.execute(f"SET LOCAL statement_timeout = {VERIFY_STATEMENT_TIMEOUT_MS}")
            queries = SnapshotQueries(repos.conn)
            checked_at = shard.clock()
            wallets = await queries.wallet_count()
            differences = await queries.differences(limit=MAX_DIFFERENCES + 1)
            legs = await queries.open_legs()
    except asyncpg.exceptions.QueryCanceledError as error:
        raise ServiceUnavailable(
            "The ledger verification took longer than this shard allows "
            f"({VERIFY_STATEMENT_TIMEOUT_MS // 1000} s); try again when the shard is less busy."
        ) from error
    return ShardLedgerVerification(
        shard=shard.shard_id,
        checked_at=checked_at,
        wallets_checked=wallets,
        differences=[
            WalletDifference(
                wallet_id=d.wallet_id,
                column=cast(SnapshotColumn, d.column),
                snapshot=d.snapshot,
                recomputed=d.recomputed,
            )
            for d in differences[:MAX_DIFFERENCES]
        ],
        differences_truncated=len(differences) > MAX_DIFFERENCES,
        open_legs=[
            OpenLeg(
                transfer_id=leg.transfer_id,
                leg=cast(Literal["debit", "credit"], leg.leg),
                wallet_id=leg.wallet_id,
                amount=leg.amount,
                currency=leg.currency,
            )
            for leg in legs
        ],
    )


async def rebuild_wallets(
    uow: UnitOfWork,
    shard: ShardContext,
    origin: MovementRequest,
    *,
    wallet_id: str | None,
    after: str | None,
    limit: int,
) -> RebuildPage:
    """Rebuild one wallet (`wallet_id`; an unknown one is an empty page), or the next `limit`
    wallets after `after` in id order; each in its own transaction."""
    if wallet_id is not None:
        wallet_ids, next_cursor = [wallet_id], None
    else:
        async with uow.reading() as repos:
            wallet_ids = await SnapshotQueries(repos.conn).wallet_ids_after(after, limit=limit)
        next_cursor = wallet_ids[-1] if len(wallet_ids) == limit else None
    items = [
        outcome
        for one in wallet_ids
        if (outcome := await _rebuild_one(uow, shard, origin, one)) is not None
    ]
    async with uow.reading() as repos:
        total = await SnapshotQueries(repos.conn).wallet_count()
    return RebuildPage(
        shard=f"shard-{shard.label}", items=items, next_cursor=next_cursor, wallets_total=total
    )


async def _rebuild_one(
    uow: UnitOfWork, shard: ShardContext, origin: MovementRequest, wallet_id: str
) -> WalletRebuild | None:
    async with uow.transaction() as repos:
        queries = SnapshotQueries(repos.conn)
        found = await queries.lock_and_recompute(wallet_id)
        if found is None:
            return None
        outcome = rebuild_outcome(wallet_id, found)
        if outcome.outcome == "rebuilt":
            await queries.write_snapshot(wallet_id, balance=outcome.balance_after)
            await _audit(repos.conn, shard, origin, outcome)
    return outcome


def rebuild_outcome(wallet_id: str, found: LockedSnapshot) -> WalletRebuild:
    """What rebuilding a wallet does, decided from what was read under its lock."""
    before = {
        "balance_before": found.balance,
        "frozen_before": found.frozen,
        "incoming_before": found.incoming,
    }
    if found.open_holds or found.open_credits:
        return WalletRebuild(
            wallet_id=wallet_id,
            outcome="refused",
            reason=f"money in flight: {found.open_holds} open hold(s), "
            f"{found.open_credits} open pending credit(s)",
            **before,
            balance_after=found.balance,
            frozen_after=found.frozen,
            incoming_after=found.incoming,
        )
    if found.entries_total < 0:
        # No movement can take a wallet below zero, so its entries summing to less is damage
        # to the journal itself: a snapshot cannot show it (the wallet's row refuses a
        # negative balance), and only a person who reads the entries can repair it.
        return WalletRebuild(
            wallet_id=wallet_id,
            outcome="refused",
            reason=f"the wallet's entries sum to {found.entries_total}, below zero: the journal "
            "needs repair, not the snapshot",
            **before,
            balance_after=found.balance,
            frozen_after=found.frozen,
            incoming_after=found.incoming,
        )
    # No leg open: no hold or pending credit, and the balance is what the entries sum to.
    changed = (found.balance, found.frozen, found.incoming) != (found.entries_total, 0, 0)
    return WalletRebuild(
        wallet_id=wallet_id,
        outcome="rebuilt" if changed else "unchanged",
        **before,
        balance_after=found.entries_total,
        frozen_after=0,
        incoming_after=0,
    )


async def _audit(
    conn: asyncpg.Connection, shard: ShardContext, origin: MovementRequest, outcome: WalletRebuild
) -> None:
    reason = (
        f"balance {outcome.balance_before} -> {outcome.balance_after}, frozen "
        f"{outcome.frozen_before} -> 0, incoming {outcome.incoming_before} -> 0"
    )
    entry = AuditEntry(
        action=REBUILD_ACTION,
        actor=origin.actor,
        role=origin.actor_role,
        target=outcome.wallet_id,
        wallet_id=outcome.wallet_id,
        reason=reason,
        trace_id=current_trace_id() or None,
        client_address=origin.client_address,
        user_agent=origin.user_agent,
    )
    await record_actions(conn, [entry], service=f"shard-{shard.label}", at=shard.clock())
