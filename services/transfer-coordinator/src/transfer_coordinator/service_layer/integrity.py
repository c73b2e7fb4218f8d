"""The coordinator's part of the integrity report: transfers in flight, transfers stuck, and what
the sagas say each shard's clearing account must hold.

The gateway reads the system as one consistent cut in three steps (docs/internals.md,
"Integrity"): it asks the coordinator for a cut (`open_cut`), then every shard for its clearing
account and the confirmed legs of the cut's recent and pending sagas, then the coordinator again
(`check_sagas` with the cut) for the states of those sagas and the sums of all the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from wallet_shared.contracts.ids import saga_transfer_id_floor
from wallet_shared.contracts.schemas import Transfer

from transfer_coordinator.adapters import repository
from transfer_coordinator.domain.saga import TransferSaga
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.outgoing import transfer_view

MAX_STUCK_LISTED: Final = 1000
"""Stuck ids listed at most (the report must stay small when something is badly wrong)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Sagas whose ids are at least `recent_from` (made in the last `cut_margin`) and the older
    ones still pending when the cut was opened are read one by one; every other saga was
    already final then, so each of its legs was resolved on its shard before any shard is read
    after the cut."""

    recent_from: str
    pending_before: list[str]


@dataclass(frozen=True, slots=True)
class SagaIntegrity:
    """`pending`: transfers not final. `stuck`: not final although past their deadline by the
    grace period (the sweeper should have finished them). `final_with_active_legs`: the
    transfers among those shards still hold a hold or pending credit for that are final here.
    `in_flight`: per currency, money confirmed on the source side only as far as the replies
    heard so far tell. With a cut: `settled`, per shard and currency, what the completed sagas
    outside the cut left in that shard's clearing account; `sagas`, the cut's sagas asked about;
    `late_pending`, pending sagas outside the cut that the cut did not list (their ids are older
    than the margin allows: the cut cannot judge them)."""

    pending: int
    stuck: list[str]
    final_with_active_legs: list[str]
    in_flight: dict[str, int]
    cut: Cut
    settled: dict[int, dict[str, int]] = field(default_factory=dict)
    sagas: list[TransferSaga] = field(default_factory=list)
    late_pending: list[str] = field(default_factory=list)


async def check_sagas(
    ctx: CoordinatorContext,
    active_leg_transfer_ids: Sequence[str],
    *,
    cut: Cut | None = None,
    transfer_ids: Sequence[str] = (),
) -> SagaIntegrity:
    """Every figure from one snapshot of the saga store. Without `cut`, a new cut is opened (the
    first step of a check); with one, the sagas it reads one by one (`transfer_ids`, the ones
    the shards named, and the cut's pending ones) and the sums of the others are reported."""
    now = ctx.clock()
    async with repository.read_snapshot(ctx.pool) as conn:
        if cut is None:
            # The ids' clock (wall time of this process), not ctx.clock: the cut compares ids.
            recent_from = saga_transfer_id_floor(
                time.time_ns() // 1_000_000 - int(ctx.cut_margin.total_seconds() * 1000)
            )
            cut = Cut(recent_from, await repository.pending_ids_before(conn, recent_from))
            settled: dict[int, dict[str, int]] = {}
            sagas: list[TransferSaga] = []
            late: list[str] = []
        else:
            settled = {}
            for bucket, currency, total in await repository.settled_clearing(
                conn, recent_from=cut.recent_from, excluded=cut.pending_before
            ):
                per_currency = settled.setdefault(ctx.shards.shard_for_bucket(bucket), {})
                per_currency[currency] = per_currency.get(currency, 0) + total
            sagas = await repository.sagas_among(conn, sorted({*transfer_ids, *cut.pending_before}))
            listed = set(cut.pending_before)
            late = [
                i
                for i in await repository.pending_ids_before(conn, cut.recent_from)
                if i not in listed
            ]
        return SagaIntegrity(
            pending=await repository.count_pending(conn),
            stuck=await repository.stuck_ids(
                conn, deadline_before=now - ctx.stuck_grace, limit=MAX_STUCK_LISTED
            ),
            final_with_active_legs=await repository.final_among(conn, active_leg_transfer_ids),
            in_flight=await repository.in_flight_by_currency(conn),
            cut=cut,
            settled=settled,
            sagas=sagas,
            late_pending=late,
        )


async def look_up_transfers(ctx: CoordinatorContext, transfer_ids: Sequence[str]) -> list[Transfer]:
    """The transfers among these ids, read in one snapshot: what `wallet ledger verify`
    compares the shards' open holds and pending credits with."""
    async with repository.read_snapshot(ctx.pool) as conn:
        return [transfer_view(saga) for saga in await repository.sagas_among(conn, transfer_ids)]
