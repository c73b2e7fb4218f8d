"""Waiting for a transfer's final status (`?wait=`), without polling the database in a loop.

Reply handlers `NOTIFY transfer_final, '<id>'` when they commit a final status; one LISTEN
connection per process (adapters/notifications.py) feeds `FinalWaiters`, which wakes the requests
waiting for that id. Each wake-up, and each `recheck_s` in case a notification was lost while the
LISTEN connection was down, ends in a re-read of the row: the database has the last word. The
reply handler of this process hands over the final sagas it has just committed as well: a request
woken with its saga answers it without reading it again (the row holds exactly that saga). Its
notices name this registry as their announcer, and the registry ignores them: PostgreSQL delivers
a notice to the LISTEN connection as the transaction commits, before the handler's commit has
returned, so the notice would otherwise wake the request first, to read the saga again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from transfer_coordinator.adapters import repository
from transfer_coordinator.domain.saga import TransferSaga
from transfer_coordinator.service_layer.context import CoordinatorContext

_log = structlog.get_logger(__name__)


class FinalWaiters:
    """The requests of this process waiting for transfers to become final, by transfer id."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[TransferSaga | None]]] = {}
        self.announcer = uuid.uuid4().hex
        """The name this process's notices carry when it hands their sagas over itself."""

    @contextmanager
    def watch(self, transfer_id: str) -> Iterator[asyncio.Future[TransferSaga | None]]:
        """A future resolved when `transfer_id` is announced final (with the final saga when
        the announcer had it, else None: read it); forgotten on exit."""
        woken: asyncio.Future[TransferSaga | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(transfer_id, set()).add(woken)
        try:
            yield woken
        finally:
            futures = self._waiting.get(transfer_id)
            if futures is not None:
                futures.discard(woken)
                if not futures:
                    del self._waiting[transfer_id]

    def announce(self, transfer_id: str, announcer: str | None = None) -> None:
        """`transfer_id` reached a final status: wake whoever waits for it, to read it, unless
        the notice is this registry's own (`announce_final` hands that saga over)."""
        if announcer != self.announcer:
            self._wake(transfer_id, None)

    def announce_final(self, saga: TransferSaga) -> None:
        """`saga`, final, has just been committed: wake whoever waits for it with it."""
        if saga.is_final:
            self._wake(saga.id, saga)

    def _wake(self, transfer_id: str, saga: TransferSaga | None) -> None:
        for woken in self._waiting.get(transfer_id, ()):
            if not woken.done():
                woken.set_result(saga)

    def announce_all(self) -> None:
        """Wake every waiter to re-read (announcements may have been missed meanwhile)."""
        for transfer_id in list(self._waiting):
            self.announce(transfer_id)

    def __len__(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())


async def wait_for_final(
    ctx: CoordinatorContext,
    waiters: FinalWaiters,
    transfer_id: str,
    *,
    timeout_s: float,
    recheck_s: float = 1.0,
    just_started: bool = False,
) -> TransferSaga | None:
    """The saga once final, or as it stands when `timeout_s` ran out; None when it cannot be
    read (unknown, or the database is away).

    `just_started`: the caller has just committed the saga, pending. A first read would only say
    so, so the wait comes first (a saga that became final in between, unannounced to this watch,
    is still seen by the re-read after `recheck_s`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    read_first = not just_started
    while True:
        # Watch before reading: an announcement between the read and the wait is not lost.
        with waiters.watch(transfer_id) as woken:
            if read_first:
                try:
                    saga = await repository.get_saga(ctx.pool, transfer_id)
                except Exception as error:  # the transfer is started: "still pending" stays true
                    _log.warning(
                        "final_wait_read_failed", transfer_id=transfer_id, error=str(error)
                    )
                    return None
                if saga is None or saga.is_final or loop.time() >= deadline:
                    return saga
            read_first = True
            remaining = deadline - loop.time()
            await asyncio.wait({woken}, timeout=max(0.0, min(remaining, recheck_s)))
            if woken.done() and (committed := woken.result()) is not None:
                return committed
