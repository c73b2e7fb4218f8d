"""What the gateway itself has to audit (requests it refused with 401 or 403, integrity runs)
has no backend transaction to ride in: it is queued in memory and shipped in batches to the
coordinator's audit log by a background loop, so recording never delays a response. A full
queue drops the oldest records (counted), rather than grow without bound under an attack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Final

import structlog
from pydantic import ValidationError
from wallet_shared.contracts.internal import GatewayAuditBatch, GatewayAuditRecord
from wallet_shared.platform.audit import AuditEntry
from wallet_shared.platform.loops import BackgroundLoop

from gateway.adapters.backends import (
    GATEWAY_ITSELF,
    BackendProblem,
    Backends,
    built_body,
    expect_ok,
)
from gateway.metrics import AUDIT_RECORDS_DROPPED

SERVICE: Final = "gateway"
AUDIT_PATH: Final = "/internal/audit-log"
_log = structlog.get_logger(__name__)
_IDLE_BEAT_S: Final = 10.0


class AuditShipper(BackgroundLoop):
    """Queues audit entries (`record`, never blocks) and ships them until stopped."""

    def __init__(
        self, *, backends: Backends, capacity: int = 10_000, batch_size: int = 500
    ) -> None:
        super().__init__(name="audit_shipper", service=SERVICE)
        self._backends = backends
        self._queue: deque[AuditEntry] = deque()
        self._capacity = capacity
        self._batch_size = batch_size
        self._queued = asyncio.Event()

    def record(self, entry: AuditEntry) -> None:
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            AUDIT_RECORDS_DROPPED.inc()
        self._queue.append(entry)
        self._queued.set()

    def on_stopping(self) -> None:
        self._queued.set()

    async def run(self) -> None:
        failures = 0
        while True:
            self.beat()
            if not self._queue:
                if self.stopping:
                    return
                self._queued.clear()
                # Idle is not stuck: wake now and then to beat, or the heartbeat would go stale
                # and the "loop silent" alert fire on a quiet gateway.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), _IDLE_BEAT_S)
                continue
            # Taken off the queue while in flight: a full queue then drops only what waits.
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                await self._ship(batch)
            except (BackendProblem, ValidationError) as refusal:
                # Refused for good (by the coordinator, or off its contract already here):
                # retrying cannot help.
                AUDIT_RECORDS_DROPPED.inc(len(batch))
                _log.error("audit_batch_refused", records=len(batch), error=str(refusal))
                continue
            except Exception as error:  # the coordinator may be away: keep them, try later
                self._put_back(batch)
                failures += 1
                if await self.back_off("audit_ship_failed", error, failures, cap_s=10.0):
                    return
                continue
            failures = 0

    def _put_back(self, batch: list[AuditEntry]) -> None:
        """Return an unshipped batch to the front; beyond capacity the oldest go (counted)."""
        self._queue.extendleft(reversed(batch))
        while len(self._queue) > self._capacity:
            self._queue.popleft()
            AUDIT_RECORDS_DROPPED.inc()

    async def _ship(self, batch: list[AuditEntry]) -> None:
        records = GatewayAuditBatch(records=[_wire(entry) for entry in batch])
        reply = await self._backends.coordinator(
            "POST", AUDIT_PATH, caller=GATEWAY_ITSELF, json=built_body(records)
        )
        expect_ok(reply)


def _wire(entry: AuditEntry) -> GatewayAuditRecord:
    return GatewayAuditRecord(
        action=entry.action,
        actor=entry.actor,
        role=entry.role,
        target=entry.target,
        trace_id=entry.trace_id,
        client_address=entry.client_address,
        user_agent=entry.user_agent,
    )
