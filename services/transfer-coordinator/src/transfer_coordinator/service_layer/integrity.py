"""The coordinator's part of the integrity report: transfers in flight, and transfers stuck."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from wallet_shared.schemas import Transfer

from transfer_coordinator.adapters import repository
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.outgoing import transfer_view

MAX_STUCK_LISTED: Final = 1000
"""Stuck ids listed at most (the report must stay small when something is badly wrong)."""


@dataclass(frozen=True, slots=True)
class SagaIntegrity:
    """`pending`: transfers not final. `stuck`: not final although past their deadline by twice
    the redrive interval (the sweeper should have finished them). `final_with_active_legs`: the
    transfers among those shards still hold a hold or pending credit for that are final here.
    `in_flight`: per currency, money confirmed on the source side only (in the clearing
    accounts)."""

    pending: int
    stuck: list[str]
    final_with_active_legs: list[str]
    in_flight: dict[str, int]


async def check_sagas(
    ctx: CoordinatorContext, active_leg_transfer_ids: Sequence[str]
) -> SagaIntegrity:
    """Every figure from one snapshot of the saga store."""
    now = ctx.clock()
    async with repository.read_snapshot(ctx.pool) as conn:
        return SagaIntegrity(
            pending=await repository.count_pending(conn),
            stuck=await repository.stuck_ids(
                conn, deadline_before=now - 2 * ctx.redrive_after, limit=MAX_STUCK_LISTED
            ),
            final_with_active_legs=await repository.final_among(conn, active_leg_transfer_ids),
            in_flight=await repository.in_flight_by_currency(conn),
        )


MAX_LOOKUP: Final = 10_000
"""Transfers one lookup may name (the gateway asks in chunks of this size)."""


async def look_up_transfers(ctx: CoordinatorContext, transfer_ids: Sequence[str]) -> list[Transfer]:
    """The transfers among these ids, read in one snapshot: what `wallet ledger verify`
    compares the shards' open holds and pending credits with."""
    async with repository.read_snapshot(ctx.pool) as conn:
        return [transfer_view(saga) for saga in await repository.sagas_among(conn, transfer_ids)]
