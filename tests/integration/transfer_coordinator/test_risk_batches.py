"""The risk rules' consumer of the public topic against a real PostgreSQL: a batch whose
movements raise several flags stores them all, publishes each as `risk.flagged` with the same
content, and the same batch delivered again raises nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from transfer_coordinator.domain.risk import RiskThresholds
from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.service_layer.public_events import (
    PublicEvent,
    decode_public_event,
    handle_public_events,
)
from wallet_shared.contracts.messages import EventType, encode_public_event

from tests.integration.transfer_coordinator.harness import TOPICS, Harness, wallet_on_shard

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
