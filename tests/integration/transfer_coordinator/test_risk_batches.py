"""The risk rules' consumer of the public topic against a real PostgreSQL: a batch whose
movements raise several flags stores them all, publishes each as `risk.flagged` with the same
content, and the same batch delivered again raises nothing more; a batch without movements
queues its webhook deliveries without opening a transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from transfer_coordinator.adapters import webhook_repository as webhooks
from transfer_coordinator.domain.risk import RiskThresholds
from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.service_layer.public_events import (
    PublicEvent,
    decode_public_event,
    handle_public_events,
)
from wallet_shared.contracts.messages import EventType, encode_public_event

from tests.integration.transfer_coordinator.harness import (
    TOPICS,
    Harness,
    count_transactions,
    wallet_on_shard,
)

SOURCE = wallet_on_shard(0)


def _event(event_type: EventType, subject: dict[str, Any], at: datetime) -> PublicEvent:
    message = encode_public_event(
        event_type, subject, topic=TOPICS.events, wallet_id=SOURCE, occurred_at=at
    )
    return decode_public_event(message.value)


def _deposit(amount: int, at: datetime) -> PublicEvent:
    transaction = {"id": f"txn_dep_{amount}", "wallet_id": SOURCE, "type": "deposit"}
    return _event(EventType.TRANSACTION_POSTED, {**transaction, "amount": str(amount)}, at)


def _transfer(number: int, amount: int, at: datetime) -> PublicEvent:
    transfer = {
        "id": f"tr_risk_{number}",
        "source_wallet_id": SOURCE,
        "destination_wallet_id": wallet_on_shard(1),
        "amount": str(amount),
    }
    return _event(EventType.TRANSFER_COMPLETED, transfer, at)


def _leg(number: int, kind: str, at: datetime) -> PublicEvent:
    transaction = {"id": f"txn_leg_{number}", "wallet_id": SOURCE, "type": kind, "amount": "500"}
    return _event(EventType.TRANSACTION_POSTED, transaction, at)


def _oversight(harness: Harness) -> OversightContext:
    return OversightContext(
        pool=harness.pool,
        topics=TOPICS,
        thresholds=RiskThresholds(velocity_count=2),
        allow_private_urls=False,
        uow=harness.ctx.uow,
        wake_dispatcher=lambda: None,
        clock=harness.clock,
    )


async def _subscribe(conn: asyncpg.Connection, webhook_id: str, event_types: list[str]) -> None:
    await webhooks.add_webhook(
        conn,
        webhook_id=webhook_id,
        url=f"https://hooks.example.com/{webhook_id}",
        event_types=event_types,
        secret="whsec_test",
        created_by="admin",
    )


async def test_a_batch_of_flagged_movements_stores_and_publishes_every_flag_once(
    harness: Harness,
) -> None:
    start = harness.clock.now - timedelta(minutes=1)
    batch = [
        _deposit(500, start),
        *(_transfer(n, 500, start + timedelta(seconds=n)) for n in (1, 2, 3)),
    ]
    ctx = _oversight(harness)

    await handle_public_events(ctx, batch)

    rows = await harness.pool.fetch(
        "SELECT id, wallet_id, rule, transaction_id, transfer_id, detail, created_at"
        " FROM risk_flags ORDER BY transfer_id, rule"
    )
    stored = [dict(row) for row in rows]
    # Each transfer passes the deposit's amount on; the third is the one past two in the window.
    assert [(f["transfer_id"], f["rule"]) for f in stored] == [
        ("tr_risk_1", "deposit_then_transfer"),
        ("tr_risk_2", "deposit_then_transfer"),
        ("tr_risk_3", "deposit_then_transfer"),
        ("tr_risk_3", "velocity"),
    ]
    assert stored[0]["detail"] == {"amount": "500", "deposit_transaction_id": "txn_dep_500"}
    assert stored[3]["detail"] == {"count": 3, "window_s": 300, "limit": 2}
    assert {f["wallet_id"] for f in stored} == {SOURCE}
    assert {f["created_at"] for f in stored} == {harness.clock.now}

    published = [record.event() for record in await harness.take_outbox()]
    assert {event["event_type"] for event in published} == {"risk.flagged"}
    by_id = {f["id"]: f for f in stored}
    assert sorted(event["flag"]["id"] for event in published) == sorted(by_id)
    for event in published:
        flag = event["flag"]
        assert flag["detail"] == by_id[flag["id"]]["detail"]
        assert flag["transfer_id"] == by_id[flag["id"]]["transfer_id"]

    await handle_public_events(ctx, batch)  # delivered again: judged already

    assert await harness.pool.fetchval("SELECT count(*) FROM risk_flags") == len(stored)
    assert await harness.take_outbox() == []


async def test_a_batch_without_movements_queues_its_deliveries_without_a_transaction(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transfer's legs are nothing to the risk rules: the batch is one statement's worth (its
    deliveries), and BEGIN and COMMIT would double its round trips. A batch with a movement
    still runs in one transaction: its remembered movements, flags and their events commit
    together, or a redelivery would find the movement remembered and its flag never raised."""
    async with harness.pool.acquire() as conn:
        await _subscribe(conn, "wh_legs", ["transaction.posted"])
    opened = count_transactions(harness, monkeypatch)
    ctx = _oversight(harness)
    at = harness.clock.now - timedelta(minutes=1)

    await handle_public_events(ctx, [_leg(1, "transfer_out", at), _leg(2, "transfer_in", at)])

    assert opened.count == 0
    queued = await harness.pool.fetch(
        "SELECT webhook_id, event_type FROM webhook_deliveries ORDER BY id"
    )
    assert [tuple(row) for row in queued] == [("wh_legs", "transaction.posted")] * 2
    assert await harness.pool.fetchval("SELECT count(*) FROM risk_movements") == 0

    await handle_public_events(ctx, [_leg(3, "transfer_out", at), _deposit(700, at)])

    assert opened.count == 1
    assert await harness.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 4
    assert await harness.pool.fetchval("SELECT count(*) FROM risk_movements") == 1


async def test_each_event_is_queued_once_for_every_live_endpoint_subscribed_to_its_type(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoints are read by the statement that queues the deliveries (a batch without
    movements sends that one statement): a deleted endpoint gets nothing, nor one subscribed to
    other types; the deliveries follow the events' order; the same batch delivered again queues
    nothing and leaves the dispatcher asleep."""
    subscribed = {
        "wh_a": ["transaction.posted", "transfer.completed"],
        "wh_b": ["transfer.completed"],
        "wh_c": ["wallet.created"],
        "wh_gone": ["transaction.posted", "transfer.completed"],
    }
    async with harness.pool.acquire() as conn:
        for webhook_id, event_types in subscribed.items():
            await _subscribe(conn, webhook_id, event_types)
        assert await webhooks.delete_webhook(conn, "wh_gone")
    wakes: list[None] = []
    ctx = replace(_oversight(harness), wake_dispatcher=lambda: wakes.append(None))
    at = harness.clock.now - timedelta(minutes=1)
    batch = [_leg(1, "transfer_out", at), _transfer(1, 500, at), _leg(2, "transfer_in", at)]

    await handle_public_events(ctx, batch)

    queued = await harness.pool.fetch(
        "SELECT webhook_id, event_id, event_type, body FROM webhook_deliveries ORDER BY id"
    )
    expected = [
        ("wh_a", batch[0]),
        ("wh_a", batch[1]),
        ("wh_b", batch[1]),
        ("wh_a", batch[2]),
    ]
    assert [tuple(row) for row in queued] == [
        (webhook_id, event.event_id, event.event_type, event.raw) for webhook_id, event in expected
    ]
    assert len(wakes) == 1

    await handle_public_events(ctx, batch)  # delivered again

    assert await harness.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 4
    assert len(wakes) == 1

    statements: list[str] = []
    real_execute = asyncpg.Connection._execute

    async def counted_execute(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        statements.append(query)
        return await real_execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.Connection, "_execute", counted_execute)
    await handle_public_events(ctx, [_leg(3, "transfer_out", at)])
    monkeypatch.undo()

    assert len(statements) == 1
    assert await harness.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 5
    assert len(wakes) == 2
