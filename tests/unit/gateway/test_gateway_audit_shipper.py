"""The gateway's audit shipper: records queue without waiting, leave in batches, stay queued
while the coordinator is away, and a full queue drops the oldest (a fake coordinator)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.adapters.audit_shipper import AuditShipper
from gateway.adapters.backends import BackendReply
from gateway.entrypoints.gateway_audit import MAX_TARGET, MAX_USER_AGENT, refusal_entry
from wallet_shared.contracts.errors import ServiceUnavailable
from wallet_shared.platform.audit import AuditEntry


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

    def shipped(self) -> list[str]:
        """The actors of the records taken so far, in order."""
        return [record["actor"] for batch in self.batches for record in batch]

    async def until_shipped(self, count: int) -> None:
        """Until `count` records were taken, for 30 s at most (the assertions then say what was)."""
        for _ in range(3000):
            if len(self.shipped()) == count:
                return
            await asyncio.sleep(0.01)


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
        await fake.until_shipped(3)
    finally:
        await shipper.stop()
    assert fake.shipped() == ["user-1", "user-2", "user-3"]  # user-0 dropped: the queue held 3
    assert all(len(batch) <= 2 for batch in fake.batches)
    assert not shipper.alive


class RefusingCoordinator(FakeCoordinator):
    """Refuses (422) any batch holding the record of `user-poison`, takes the others."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False

    async def coordinator(self, method: str, path: str, **call: Any) -> BackendReply:
        records = call["json"]["records"]
        if any(record["actor"] == "user-poison" for record in records):
            return BackendReply("coordinator", 422, b"{}", "application/problem+json")
        return await super().coordinator(method, path, **call)


async def test_a_batch_refused_for_good_is_dropped_and_never_holds_back_the_rest() -> None:
    fake = RefusingCoordinator()
    shipper = AuditShipper(backends=fake, batch_size=1)  # type: ignore[arg-type]
    shipper.record(AuditEntry(action="request.forbidden", actor="user-poison", role="user"))
    for n in range(3):
        shipper.record(entry(n))
    await shipper.start()
    try:
        await fake.until_shipped(3)
    finally:
        await shipper.stop()
    assert fake.shipped() == ["user-0", "user-1", "user-2"]


def test_what_a_client_sends_is_bounded_to_what_the_audit_log_keeps() -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/v1/" + "x" * 2000,
        "headers": [(b"user-agent", b"a\x00" + b"b" * 2000)],
        "client": ("127.0.0.1", 5000),
        "state": {},
    }
    audited = refusal_entry(scope, "request.unauthorized")
    assert audited.target is not None
    assert len(audited.target) == MAX_TARGET
    assert audited.user_agent == ("a" + "b" * 2000)[:MAX_USER_AGENT]
