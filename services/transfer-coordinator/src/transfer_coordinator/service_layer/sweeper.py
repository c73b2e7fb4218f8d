"""The sweeper's pass: cancel sagas still trying past their deadline, and re-send the current
phase's commands of sagas that have not moved for a while.

Re-sending is safe because participants are idempotent per (transfer, step, leg); it heals a
command or a reply that was lost or dead-lettered, and resumes every saga after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog
from wallet_shared.platform.writes import write_together

from transfer_coordinator.adapters import repository
from transfer_coordinator.domain.saga import TransferSaga, Transition
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.outgoing import command_records

EXPIRE_BATCH: Final = 500
"""Sagas cancelled for their deadline per pass; a full pass is followed at once by another."""

REDRIVE_BATCH: Final = 200
"""Sagas re-driven per pass at most. A saga is often idle only because Kafka lags under load;
re-sending without a bound would add duplicates exactly when the system is slowest."""

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one pass did; `more` when deadlines are left over and another pass should follow."""

    timed_out: int
    redriven: int
    more: bool


async def sweep_once(
    ctx: CoordinatorContext,
    *,
    expire_limit: int = EXPIRE_BATCH,
    redrive_limit: int = REDRIVE_BATCH,
) -> SweepResult:
    """One pass over the sagas that nobody else holds right now."""
    now = ctx.clock()
    idle_since = now - ctx.redrive_after
    async with ctx.uow.transaction() as tx:
        expired = await repository.lock_expired(tx.conn, now=now, limit=expire_limit)
        idle = await repository.lock_idle(tx.conn, idle_since=idle_since, limit=redrive_limit)
        # A saga can be in both lists; it gets one transition.
        candidates = {saga.id: saga for saga in (*idle, *expired)}.values()
        transitions = [(saga, _sweep_saga(saga, now)) for saga in candidates]
        moved = [after for before, after in transitions if after.saga is not before]
        await write_together(
            tx.conn,
            [
                *repository.saving_sagas([transition.saga for transition in moved]),
                *tx.publishing(command_records(ctx, [c for t in moved for c in t.commands])),
            ],
        )
    timed_out = sum(1 for before, after in transitions if after.saga.phase is not before.phase)
    result = SweepResult(
        timed_out=timed_out,
        redriven=len(moved) - timed_out,
        more=len(expired) >= expire_limit,
    )
    if moved:
        _log.info("sagas_swept", timed_out=result.timed_out, redriven=result.redriven)
    return result


def _sweep_saga(saga: TransferSaga, now: datetime) -> Transition:
    """The deadline first; a saga it leaves alone gets its current phase's commands again."""
    expired = saga.expire(now)
    return expired if expired.saga is not saga else saga.redrive(now)
