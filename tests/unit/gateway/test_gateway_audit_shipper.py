"""The gateway's audit shipper: records queue without waiting, leave in batches, stay queued
while the coordinator is away, and a full queue drops the oldest (a fake coordinator)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.adapters.audit_shipper import AuditShipper
from gateway.adapters.backends import BackendReply
from wallet_shared.audit import AuditEntry
from wallet_shared.errors import ServiceUnavailable


class FakeCoordinator:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.away = True
        self.called = asyncio.Event()

    async def coordinator(self, method: str, path: str, **call: Any) -> BackendReply:
        self.called.set()
        if self.away:
            raise ServiceUnavailable("away")
        assert (method, path) == ("POST", "/internal/audit-log")
        self.batches.append(call["json"]["records"])
        return BackendReply("coordinator", 204, b"", "application/json")


def entry(n: int) -> AuditEntry:
    return AuditEntry(action="request.forbidden", actor=f"user-{n}", role="user")


async def test_records_wait_for_the_coordinator_and_a_full_queue_drops_the_oldest() -> None:
    fake = FakeCoordinator()
    shipper = AuditShipper(backends=fake, capacity=3, batch_size=2)  # type: ignore[arg-type]
    for n in range(4):
        shipper.record(entry(n))
    await shipper.start()
    try:
        await asyncio.wait_for(fake.called.wait(), 30)
        assert fake.batches == []  # refused: nothing is lost, it is tried again
        fake.away = False
        for _ in range(3000):
            if sum(len(batch) for batch in fake.batches) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await shipper.stop()
    shipped = [record["actor"] for batch in fake.batches for record in batch]
    assert shipped == ["user-1", "user-2", "user-3"]  # user-0 dropped: the queue held 3
    assert all(len(batch) <= 2 for batch in fake.batches)
    assert not shipper.alive
