"""Participants' replies: a whole consumed batch moves its sagas in one DB transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from wallet_shared.contracts.messages import LegReply, OutgoingMessage
from wallet_shared.platform.metrics import TRANSFER_DURATION, TRANSFERS
from wallet_shared.platform.writes import write_together

from transfer_coordinator.adapters import repository
from transfer_coordinator.domain.saga import TransferSaga
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.outgoing import command_records, final_event
from transfer_coordinator.service_layer.waiting import FinalWaiters

_log = structlog.get_logger(__name__)


class UnknownTransfer(Exception):
    """A reply names a transfer this coordinator never started: a routing or deployment bug,
    which a retry cannot cure (the consumer dead-letters the reply)."""


@dataclass
class _BatchOutcome:
    """What applying a batch of replies to its sagas produced."""

    moved: dict[str, TransferSaga] = field(default_factory=dict)
    records: list[OutgoingMessage] = field(default_factory=list)
    finished: list[TransferSaga] = field(default_factory=list)


async def handle_replies(
    ctx: CoordinatorContext,
    replies: Sequence[LegReply],
    *,
    waiters: FinalWaiters | None = None,
) -> None:
    """Apply a batch of replies: lock the sagas (in id order), move them, store them, and queue
    the commands and final events they produce, all in one commit (the writes in one statement).

    Duplicated or late replies change nothing. A transfer reaching a final status is announced
    on `transfer_final` (waiting HTTP requests wake up) and as a public event; once committed,
    it is handed to this process's `waiters` (spared a re-read), whose name the notice carries.
    """
    if not replies:
        return
    finished: list[TransferSaga] = []
    try:
        async with ctx.uow.transaction(fresh_plans=True) as tx:
            sagas = await repository.lock_sagas(tx.conn, [reply.transfer_id for reply in replies])
            outcome = _apply(ctx, sagas, replies)
            finished = outcome.finished
            announcer = waiters.announcer if waiters is not None else None
            # One statement: the sagas, their commands and events, the notices (last: a
            # statement's SELECT runs only as its main one).
            await write_together(
                tx.conn,
                [
                    *repository.saving_sagas(list(outcome.moved.values())),
                    *tx.publishing(outcome.records),
                    *repository.final_notices([s.id for s in finished], announcer=announcer),
                ],
            )
    except BaseException:
        # The commit may have happened all the same (an error on COMMIT, a connection lost on
        # release), and this process's listener ignores its own notices: wake its waiters to
        # read what the database holds (a rolled-back batch leaves them pending, and waiting).
        if waiters is not None:
            for saga in finished:
                waiters.announce(saga.id)
        raise
    if waiters is not None:  # first: nothing below may keep a waiter from its saga
        for saga in finished:
            waiters.announce_final(saga)
    for saga in finished:
        _count_final(saga)


def _apply(
    ctx: CoordinatorContext, sagas: dict[str, TransferSaga], replies: Sequence[LegReply]
) -> _BatchOutcome:
    outcome = _BatchOutcome()
    now = ctx.clock()
    for reply in replies:
        saga = sagas.get(reply.transfer_id)
        if saga is None:
            raise UnknownTransfer(f"reply {reply.message_type} for unknown {reply.transfer_id}")
        transition = saga.on_reply(reply, now)
        if transition.saga is saga:
            continue
        sagas[saga.id] = outcome.moved[saga.id] = transition.saga
        outcome.records += command_records(ctx, transition.commands)
        if transition.saga.is_final:
            outcome.finished.append(transition.saga)
            outcome.records.append(final_event(ctx, transition.saga))
    return outcome


def _count_final(saga: TransferSaga) -> None:
    TRANSFERS.labels(saga.status.value, saga.failure_code or "none").inc()
    TRANSFER_DURATION.observe((saga.updated_at - saga.created_at).total_seconds())
    # Debug: at a thousand transfers a second, one line each would cost more than the saga.
    _log.debug(
        "transfer_final",
        transfer_id=saga.id,
        status=saga.status.value,
        failure_code=saga.failure_code,
        trace_id=saga.trace_id,
    )
