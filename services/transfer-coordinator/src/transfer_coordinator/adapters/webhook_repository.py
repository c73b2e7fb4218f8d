"""SQL of webhook endpoints (`webhooks`) and their deliveries (`webhook_deliveries`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

DELIVERY_PREFIX: Final = "whd_"


@dataclass(frozen=True, slots=True)
class EventToDeliver:
    """An event of the public topic as its endpoints receive it: its id, type and body."""

    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery leased for one attempt, with what sending it needs."""

    id: int
    webhook_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    first_attempt_at: datetime | None


_WEBHOOK_COLUMNS: Final = "id, url, event_types, created_at"
_DELIVERY_COLUMNS: Final = (
    "id, event_id, event_type, status, attempts, last_status_code, next_attempt_at, created_at"
)


async def add_webhook(
    conn: asyncpg.Connection,
    *,
    webhook_id: str,
    url: str,
    event_types: Sequence[str],
    secret: str,
    created_by: str,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO webhooks (id, url, event_types, secret, created_by)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_WEBHOOK_COLUMNS}",
        webhook_id,
        url,
        list(event_types),
        secret,
        created_by,
    )
    return row


async def delete_webhook(conn: asyncpg.Connection, webhook_id: str) -> bool:
    """Retire an endpoint and give up its pending deliveries; False when there is none."""
    deleted = await conn.fetchval(
        "UPDATE webhooks SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        webhook_id,
    )
    if deleted is None:
        return False
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
        " finished_at = now(), last_error = 'webhook deleted'"
        " WHERE webhook_id = $1 AND status = 'pending'",
        webhook_id,
    )
    return True


async def webhooks_page(
    conn: asyncpg.Connection, *, before: tuple[datetime, str] | None, limit: int
) -> list[asyncpg.Record]:
    after_time, after_id = before if before else (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL"
        " AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2))"
        " ORDER BY created_at DESC, id DESC LIMIT $3",
        after_time,
        after_id,
        limit,
    )
    return rows


async def webhook_exists(conn: asyncpg.Connection, webhook_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM webhooks WHERE id = $1 AND deleted_at IS NULL", webhook_id
    )
    return found is not None


# Every live endpoint subscribed to an event's type gets a delivery of it, in the events' order;
# one statement reads the endpoints and queues, so that a batch of the public topic pays one
# round trip for its deliveries whether or not any endpoint wants them.
_QUEUE: Final = """
INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_attempt_at)
SELECT w.id, e.event_id, e.event_type, e.body, now()
FROM unnest($1::text[], $2::text[], $3::bytea[])
     WITH ORDINALITY AS e(event_id, event_type, body, position)
JOIN webhooks AS w ON w.deleted_at IS NULL AND e.event_type = ANY(w.event_types)
ORDER BY e.position, w.id
ON CONFLICT (webhook_id, event_id) DO NOTHING
RETURNING id
"""


async def queue_deliveries(conn: asyncpg.Connection, events: Sequence[EventToDeliver]) -> int:
    """Queue each event for every endpoint subscribed to its type, due now; one already queued
    for the same endpoint and event is kept as it is (a redelivered event is not sent twice).
    How many were new."""
    if not events:
        return 0
    rows = await conn.fetch(
        _QUEUE,
        [event.event_id for event in events],
        [event.event_type for event in events],
        [event.body for event in events],
    )
    return len(rows)


async def deliveries_page(
    conn: asyncpg.Connection, webhook_id: str, *, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1"
        " AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        webhook_id,
        before_id,
        limit,
    )
    return rows


async def retry_failed(
    conn: asyncpg.Connection, webhook_id: str, delivery_id: int
) -> tuple[asyncpg.Record | None, bool]:
    """Make a failed delivery due again, with a fresh retry window: (the delivery, whether it
    was failed); (None, False) when the endpoint has no such delivery."""
    row = await conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(),"
        " first_attempt_at = NULL, finished_at = NULL"
        " WHERE id = $1 AND webhook_id = $2 AND status = 'failed'"
        " AND EXISTS (SELECT 1 FROM webhooks WHERE id = $2 AND deleted_at IS NULL)"
        f" RETURNING {_DELIVERY_COLUMNS}",
        delivery_id,
        webhook_id,
    )
    if row is not None:
        return row, True
    current = await conn.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2",
        delivery_id,
        webhook_id,
    )
    return current, False


# Each endpoint gets at most `$3` deliveries in flight, minus those already in flight here; the
# UPDATE re-checks each row, so two dispatchers never lease the same delivery.
_LEASE: Final = """
WITH due AS (
    SELECT d.id, d.webhook_id,
           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS rank
    FROM webhook_deliveries AS d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
), chosen AS (
    SELECT due.id FROM due
    LEFT JOIN unnest($1::text[], $2::integer[]) AS busy(webhook_id, in_flight)
           ON busy.webhook_id = due.webhook_id
    WHERE due.rank <= $3 - coalesce(busy.in_flight, 0)
    ORDER BY due.rank, due.id
    LIMIT $4
)
UPDATE webhook_deliveries AS d
SET next_attempt_at = now() + make_interval(secs => $5)
FROM chosen, webhooks AS w
WHERE d.id = chosen.id AND w.id = d.webhook_id
  AND d.status = 'pending' AND d.next_attempt_at <= now()
RETURNING d.id, d.webhook_id, w.url, w.secret, d.event_id, d.event_type, d.body, d.attempts,
          d.first_attempt_at
"""


async def lease_due(
    pool: asyncpg.Pool,
    *,
    in_flight: Mapping[str, int],
    per_endpoint: int,
    limit: int,
    lease_s: float,
) -> list[DueDelivery]:
    """Lease up to `limit` due deliveries for `lease_s`, respecting each endpoint's share."""
    rows = await pool.fetch(
        _LEASE, list(in_flight), list(in_flight.values()), per_endpoint, limit, lease_s
    )
    return [DueDelivery(**dict(row)) for row in rows]


async def record_attempt(
    pool: asyncpg.Pool,
    delivery_id: int,
    *,
    started_at: datetime,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
    delivered: bool,
) -> None:
    """One attempt's outcome: delivered, due again at `next_attempt_at`, or failed (neither)."""
    status = "delivered" if delivered else ("pending" if next_attempt_at else "failed")
    await pool.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2,"
        " last_status_code = $3, last_error = $4, next_attempt_at = $5,"
        " first_attempt_at = coalesce(first_attempt_at, $6),"
        " finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END"
        " WHERE id = $1 AND status = 'pending'",
        delivery_id,
        status,
        status_code,
        error,
        next_attempt_at,
        started_at,
    )


async def pending_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """How many deliveries are not final, and the age in seconds of the oldest."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
        " FROM webhook_deliveries WHERE status = 'pending'"
    )
    return int(row["n"]), float(row["age"])
