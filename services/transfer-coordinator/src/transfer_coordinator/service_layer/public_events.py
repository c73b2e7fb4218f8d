"""The public event topic, read after the fact: each subscribed event becomes a webhook
delivery per endpoint, and each movement is judged by the risk rules. Nothing here is on the
money path: a flag never blocks money, and a slow batch only delays deliveries and flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from wallet_shared.contracts.ids import new_record_id
from wallet_shared.contracts.messages import (
    EventType,
    OutgoingMessage,
    UndecodableMessage,
    encode_public_event,
)
from wallet_shared.platform.metrics import RISK_FLAGS
from wallet_shared.platform.writes import write_together

from transfer_coordinator.adapters import risk_repository as risk
from transfer_coordinator.adapters import webhook_repository as webhooks
from transfer_coordinator.domain.risk import Finding, Movement, MovementKind, judge
from transfer_coordinator.service_layer.oversight import OversightContext

RISK_FLAG_PREFIX = "rsk_"
_OUTGOING_TYPES = frozenset({"withdrawal", "purchase"})


@dataclass(frozen=True, slots=True)
class PublicEvent:
    """An event of the public topic: its id, type, time, body as JSON and as received."""

    event_id: str
    event_type: str
    occurred_at: datetime
    body: dict[str, Any]
    raw: bytes


def decode_public_event(value: bytes | None) -> PublicEvent:
    """A public event; `UndecodableMessage` for anything without an id, a type and a time."""
    if value is None:
        raise UndecodableMessage("record has no value")
    try:
        body = orjson.loads(value)
        return PublicEvent(
            event_id=str(body["event_id"]),
            event_type=str(body["event_type"]),
            occurred_at=datetime.fromisoformat(str(body["occurred_at"])),
            body=body,
            raw=value,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise UndecodableMessage(f"not a public event: {error}") from error


def movement_of(event: PublicEvent) -> Movement | None:
    """What an event means to the risk rules: a deposit, money leaving a wallet, or nothing.

    A transfer counts once, by its completion (which names the destination), not by its legs.
    """
    if event.event_type == EventType.TRANSACTION_POSTED:
        posted = event.body["transaction"]
        kind: MovementKind
        if posted["type"] == "deposit":
            kind = "deposit"
        elif posted["type"] in _OUTGOING_TYPES:
            kind = "out"
        else:
            return None
        return Movement(
            posted["wallet_id"], kind, int(posted["amount"]), event.occurred_at, posted["id"]
        )
    if event.event_type == EventType.TRANSFER_COMPLETED:
        transfer = event.body["transfer"]
        return Movement(
            transfer["source_wallet_id"], "out", int(transfer["amount"]), event.occurred_at,
            transfer_id=transfer["id"], destination=transfer["destination_wallet_id"],
        )  # fmt: skip
    return None


async def handle_public_events(ctx: OversightContext, events: Sequence[PublicEvent]) -> None:
    """One batch: deliveries queued, movements remembered, flags raised, all committed together.

    A batch without a movement (a transfer's legs, a risk flag, a wallet's creation) has nothing
    to remember or judge: it writes at most its deliveries, one statement, atomic alone, so it
    runs without BEGIN and COMMIT. At 10 to 30 transfers a second about seven batches in ten
    are such (counted in the coordinator: most hold one event), about two per transfer.
    """
    seen = [(event.event_id, m) for event in events if (m := _readable_movement(event))]
    flags: list[dict[str, Any]] = []
    if not seen:
        async with ctx.uow.outside_transaction() as conn:
            queued = await _queue_deliveries(conn, events)
    else:
        async with ctx.uow.transaction() as tx:
            queued = await _queue_deliveries(tx.conn, events)
            flags = await _judge(tx.conn, ctx, seen)
            events_of_flags = [_flag_event(ctx, flag) for flag in flags]
            await write_together(
                tx.conn, [*risk.adding_flags(flags), *tx.publishing(events_of_flags)]
            )
    for flag in flags:
        RISK_FLAGS.labels(flag["rule"]).inc()
    if queued:
        ctx.wake_dispatcher()


async def _queue_deliveries(conn: asyncpg.Connection, events: Sequence[PublicEvent]) -> int:
    return await webhooks.queue_deliveries(
        conn, [webhooks.EventToDeliver(e.event_id, e.event_type, e.raw) for e in events]
    )


async def _judge(
    conn: asyncpg.Connection, ctx: OversightContext, seen: Sequence[tuple[str, Movement]]
) -> list[dict[str, Any]]:
    """The batch's movements (by event id) remembered, and its new outgoing ones judged: a fixed
    number of statements per batch, however large, since this runs beside the money path."""
    fresh = await risk.remember_all(conn, seen)  # a redelivered event was judged already
    judged = [(event_id, m) for event_id, m in seen if event_id in fresh and m.kind == "out"]
    if not judged:
        return []
    size = ctx.thresholds.history_size
    histories = await risk.recent_movements_of(
        conn, {m.wallet_id for _, m in judged}, limit=size + len(seen)
    )
    at = ctx.clock()
    flags: list[dict[str, Any]] = []
    for event_id, movement in judged:
        before = [
            earlier
            for earlier_id, earlier in histories.get(movement.wallet_id, [])
            if earlier_id != event_id and earlier.at <= movement.at
        ]
        findings = judge(movement, before[:size], ctx.thresholds)
        flags.extend(_flag(movement, finding, at) for finding in findings)
    return flags


def _readable_movement(event: PublicEvent) -> Movement | None:
    try:
        return movement_of(event)
    except (KeyError, TypeError, ValueError):
        return None  # an event of a shape the rules do not read: nothing to judge


def _flag(movement: Movement, finding: Finding, at: datetime) -> dict[str, Any]:
    return {
        "id": new_record_id(RISK_FLAG_PREFIX),
        "wallet_id": movement.wallet_id,
        "rule": finding.rule,
        "transaction_id": movement.transaction_id,
        "transfer_id": movement.transfer_id,
        "detail": finding.detail,
        "created_at": at,
    }


def _flag_event(ctx: OversightContext, flag: dict[str, Any]) -> OutgoingMessage:
    subject = {**flag, "created_at": flag["created_at"].isoformat().replace("+00:00", "Z")}
    return encode_public_event(
        EventType.RISK_FLAGGED, subject, topic=ctx.topics.events, wallet_id=flag["wallet_id"]
    )
