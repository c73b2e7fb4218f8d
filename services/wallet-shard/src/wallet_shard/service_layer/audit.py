"""Audit records of the admin actions a shard carries out (status changes, limits, refunds,
reversals), written in the transaction of the action (`wallet_shared.platform.audit`)."""

from __future__ import annotations

from typing import Final

import asyncpg
from wallet_shared.platform.audit import AuditEntry, record_actions
from wallet_shared.platform.logging import current_trace_id

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.service_layer.context import ShardContext

AUDITED_POSTINGS: Final = {"refund": "transaction.refund", "reversal": "transaction.reversal"}
"""Money movements only admins make: audited besides their `movement_requests` row."""


def audit_entry(origin: MovementRequest, action: str, *, target: str, wallet_id: str) -> AuditEntry:
    """The record of `action` by the caller and client of `origin`."""
    return AuditEntry(
        action=action,
        actor=origin.actor,
        role=origin.actor_role,
        target=target,
        wallet_id=wallet_id,
        reason=origin.reason,
        trace_id=current_trace_id() or None,
        client_address=origin.client_address,
        user_agent=origin.user_agent,
    )


async def audit_posting(
    conn: asyncpg.Connection,
    shard: ShardContext,
    posting: JournalTransaction,
    origin: MovementRequest,
) -> None:
    """Audit a refund (target: the purchase) or a reversal (target: the transaction undone)."""
    action = AUDITED_POSTINGS.get(posting.type)
    if action is None:
        return
    target = posting.reference or posting.id
    entry = audit_entry(origin, action, target=target, wallet_id=posting.wallet_id)
    await record_actions(conn, [entry], service=f"shard-{shard.label}", at=posting.created_at)


async def audit_action(
    conn: asyncpg.Connection,
    shard: ShardContext,
    origin: MovementRequest,
    action: str,
    wallet_id: str,
) -> None:
    """Audit an action on a wallet (freeze, unfreeze, close, limits)."""
    entry = audit_entry(origin, action, target=wallet_id, wallet_id=wallet_id)
    await record_actions(conn, [entry], service=f"shard-{shard.label}", at=shard.clock())
