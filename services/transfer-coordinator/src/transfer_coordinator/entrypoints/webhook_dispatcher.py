"""The webhook dispatcher: leases due deliveries and sends each in its own task.

One slow or dead endpoint never holds back another: each endpoint has at most
`max_in_flight_per_endpoint` deliveries in flight, every attempt has a hard time limit, and the
loop never waits for a send. A lease outlives the attempt's time limit, so a dispatcher that
stops or dies mid-send leaves the delivery due again: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import structlog
from wallet_shared.platform.loops import BackgroundLoop
from wallet_shared.platform.metrics import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_OLDEST_PENDING,
    WEBHOOK_PENDING,
)

from transfer_coordinator.adapters import webhook_repository as repository
from transfer_coordinator.adapters.webhook_sender import OUTCOMES, Attempt, WebhookSender
from transfer_coordinator.domain.webhooks import RetryPolicy
from transfer_coordinator.settings import SERVICE

_log = structlog.get_logger(__name__)
_LEASE_MARGIN_S = 5.0


class WebhookDispatcher(BackgroundLoop):
    """Sends due deliveries until stopped; `wake()` after queuing new ones."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        sender: WebhookSender,
        policy: RetryPolicy,
        timeout_s: float,
        max_in_flight_per_endpoint: int,
        poll_interval_s: float,
        max_in_flight: int = 256,
    ) -> None:
        super().__init__(name="webhook_dispatcher", service=SERVICE)
        self._pool = pool
        self._sender = sender
        self._policy = policy
        self._lease_s = timeout_s + _LEASE_MARGIN_S
        self._per_endpoint = max_in_flight_per_endpoint
        self._poll_interval_s = poll_interval_s
        self._max_in_flight = max_in_flight
        self._in_flight: Counter[str] = Counter()
        self._sends: set[asyncio.Task[None]] = set()
        self._work = asyncio.Event()
        # Every series exists from the start, at 0: "nothing yet" on a dashboard, not "no data".
        for outcome in OUTCOMES:
            WEBHOOK_ATTEMPTS.labels(outcome)
        for status in ("delivered", "failed"):
            WEBHOOK_DELIVERIES.labels(status)

    def wake(self) -> None:
        """New deliveries, or a send finished: look for due ones now."""
        self._work.set()

    def on_stopping(self) -> None:
        self._work.set()

    async def run(self) -> None:
        failures = 0
        try:
            while not self.stopping:
                self.beat()
                self._work.clear()
                try:
                    await self._dispatch_due()
                    await self._observe_backlog()
                except Exception as error:  # the database may be away: try again later
                    failures += 1
                    await self.back_off("webhook_dispatch_failed", error, failures, cap_s=10.0)
                    continue
                failures = 0
                await self._wait_for_work()
        finally:
            await self._abandon_sends()

    async def _dispatch_due(self) -> None:
        room = self._max_in_flight - len(self._sends)
        if room <= 0:
            return
        due = await repository.lease_due(
            self._pool,
            in_flight={hook: n for hook, n in self._in_flight.items() if n > 0},
            per_endpoint=self._per_endpoint,
            limit=room,
            lease_s=self._lease_s,
        )
        for delivery in due:
            self._in_flight[delivery.webhook_id] += 1
            task = asyncio.create_task(self._deliver(delivery), name=f"webhook:{delivery.id}")
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _deliver(self, delivery: repository.DueDelivery) -> None:
        started_at = datetime.now(UTC)
        try:
            attempt = await self._sender.send(
                url=delivery.url,
                secret=delivery.secret,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                body=delivery.body,
            )
            await self._record(delivery, attempt, started_at)
        except Exception:
            # The outcome could not be stored: the lease runs out and the delivery is sent
            # again (the receiver dedupes on the event id).
            _log.exception("webhook_outcome_not_recorded", delivery=delivery.id)
        finally:
            self._in_flight[delivery.webhook_id] -= 1
            self.wake()

    async def _record(
        self, delivery: repository.DueDelivery, attempt: Attempt, started_at: datetime
    ) -> None:
        WEBHOOK_ATTEMPTS.labels(attempt.outcome).inc()
        next_attempt_at = None
        if not attempt.delivered:
            next_attempt_at = self._policy.next_attempt(
                delivery.attempts + 1,
                first_at=delivery.first_attempt_at or started_at,
                now=datetime.now(UTC),
            )
        await repository.record_attempt(
            self._pool,
            delivery.id,
            started_at=started_at,
            status_code=attempt.status_code,
            error=attempt.error,
            next_attempt_at=next_attempt_at,
            delivered=attempt.delivered,
        )
        if attempt.delivered or next_attempt_at is None:
            WEBHOOK_DELIVERIES.labels("delivered" if attempt.delivered else "failed").inc()
        if not attempt.delivered:
            _log.info(
                "webhook_attempt_failed",
                delivery=delivery.id,
                webhook=delivery.webhook_id,
                outcome=attempt.outcome,
                status_code=attempt.status_code,
                final=next_attempt_at is None,
            )

    async def _observe_backlog(self) -> None:
        pending, oldest_s = await repository.pending_backlog(self._pool)
        WEBHOOK_PENDING.set(pending)
        WEBHOOK_OLDEST_PENDING.set(oldest_s)

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), self._poll_interval_s)

    async def _abandon_sends(self) -> None:
        # Stopping: sends in flight are cancelled; their leases run out and they are sent again
        # by whichever dispatcher runs next.
        for task in list(self._sends):
            task.cancel()
        if self._sends:
            await asyncio.wait(set(self._sends))
