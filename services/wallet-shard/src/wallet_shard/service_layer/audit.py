"""Audit records of the admin actions a shard carries out (status changes, limits, refunds,
reversals), written in the transaction of the action (`wallet_shared.platform.audit`)."""

from __future__ import annotations

from collections.abc import Sequence
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


async def audit_postings(
    conn: asyncpg.Connection,
    shard: ShardContext,
    postings: Sequence[tuple[JournalTransaction, MovementRequest]],
) -> None:
    """Audit the refunds (target: the purchase) and reversals (target: the transaction undone)
    among `postings`, each with who asked for it, in one statement (none when there are none)."""
    audited = [
        (posting, action, origin)
        for posting, origin in postings
        if (action := AUDITED_POSTINGS.get(posting.type)) is not None
    ]
    if not audited:
        return
    entries = [
        audit_entry(
            origin, action, target=posting.reference or posting.id, wallet_id=posting.wallet_id
        )
        for posting, action, origin in audited
    ]
    # One instant for the statement: the postings of one transaction share theirs.
    at = audited[0][0].created_at
    await record_actions(conn, entries, service=f"shard-{shard.label}", at=at)


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
