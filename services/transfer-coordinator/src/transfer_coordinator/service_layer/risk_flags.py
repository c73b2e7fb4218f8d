"""The risk flags list (admins and auditors), newest first, of one wallet or all."""

from __future__ import annotations

from wallet_shared.contracts.admin_schemas import RiskFlag, RiskFlagPage
from wallet_shared.contracts.pagination import (
    cut_page,
    decode_cursor,
    parse_time_position,
    time_position,
)

from transfer_coordinator.adapters.risk_repository import flags_page
from transfer_coordinator.service_layer.oversight import OversightContext


async def list_risk_flags(
    ctx: OversightContext, *, wallet_id: str | None, limit: int, cursor: str | None
) -> RiskFlagPage:
    before = parse_time_position(decode_cursor(cursor, arity=2)) if cursor else None
    rows = await flags_page(ctx.pool, wallet_id=wallet_id, before=before, limit=limit + 1)
    flags = [RiskFlag(**dict(row)) for row in rows]
    page, next_cursor = cut_page(
        flags, limit=limit, position=lambda last: time_position(last.created_at, last.id)
    )
    return RiskFlagPage(items=page, next_cursor=next_cursor)
