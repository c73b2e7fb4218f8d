"""The saga store: every SQL statement of the coordinator's `transfers` table.

Functions take the connection of the caller's transaction, so that a handler decides what one
unit of work holds. Batches go through `unnest` arrays: one statement however many sagas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from wallet_shared.platform.writes import Write

from transfer_coordinator.domain.saga import (
    LegState,
    Resolution,
    SagaPhase,
    TransferSaga,
    TransferStatus,
    TryResult,
)

FINAL_CHANNEL: Final = "transfer_final"
"""The NOTIFY channel that carries the id of each transfer reaching a final status, followed
by a space and the announcer's name when the announcing process hands its waiters the saga
itself (`parse_final_notice`)."""

_COLUMNS: Final = (
    "id, source_wallet_id, destination_wallet_id, amount, currency, description, status, phase,"
    " debit_tried, credit_tried, debit_resolved, credit_resolved, failure_code, initiator,"
    " trace_id, deadline_at, created_at, updated_at, decided_at"
)

_INSERT: Final = f"""
INSERT INTO transfers ({_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                     $13::text[], $14::text[], $15::text[], $16::timestamptz[],
                     $17::timestamptz[], $18::timestamptz[], $19::timestamptz[])
"""

_LOCK: Final = f"SELECT {_COLUMNS} FROM transfers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"

_SAVE: Final = """
UPDATE transfers AS t
SET status = s.status, phase = s.phase,
    debit_tried = s.debit_tried, credit_tried = s.credit_tried,
    debit_resolved = s.debit_resolved, credit_resolved = s.credit_resolved,
    failure_code = s.failure_code, updated_at = s.updated_at, decided_at = s.decided_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::timestamptz[], $10::timestamptz[])
     AS s(id, status, phase, debit_tried, credit_tried, debit_resolved, credit_resolved,
          failure_code, updated_at, decided_at)
WHERE t.id = s.id
"""

_NOTIFY_FINAL: Final = (
    "SELECT pg_notify($1, concat_ws(' ', id, $3::text)) FROM unnest($2::text[]) AS id"
)

# One index scan per side, each stopped at `limit`, merged: an OR would lose the index order.
_WALLET_PAGE: Final = f"""
SELECT {_COLUMNS} FROM (
    (SELECT {_COLUMNS} FROM transfers WHERE source_wallet_id = $1 {{after}}
     ORDER BY created_at DESC, id DESC LIMIT $2)
    UNION ALL
    (SELECT {_COLUMNS} FROM transfers WHERE destination_wallet_id = $1 {{after}}
     ORDER BY created_at DESC, id DESC LIMIT $2)
) AS page
ORDER BY created_at DESC, id DESC
LIMIT $2
"""
_FIRST_PAGE: Final = _WALLET_PAGE.format(after="")
_NEXT_PAGE: Final = _WALLET_PAGE.format(after="AND (created_at, id) < ($3, $4)")

# SKIP LOCKED: the sweeper takes what nobody holds and never makes the reply consumer wait.
# The sweeper's reads walk `transfers_pending_by_deadline`, which holds only the sagas in flight
# (migration 021: no index names a column that a saga's updates before the last one change).
_LOCK_EXPIRED: Final = f"""
SELECT {_COLUMNS} FROM transfers
WHERE status = 'pending' AND phase = 'trying' AND deadline_at <= $1
ORDER BY deadline_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""
# Idle sagas by deadline, the index's order: the read stops after `limit` of them even when a
# backlog of tens of thousands is pending (no sort of them all); the nearest deadline first.
_LOCK_IDLE: Final = f"""
SELECT {_COLUMNS} FROM transfers
WHERE status = 'pending' AND updated_at <= $1
ORDER BY deadline_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""

# Money that left a source wallet for the clearing account but has not reached the destination
# (signed: a destination may confirm first). Once both legs confirmed the saga is completed.
_IN_FLIGHT: Final = """
SELECT currency,
       sum(CASE WHEN debit_resolved = 'confirmed' THEN amount ELSE 0 END)
     - sum(CASE WHEN credit_resolved = 'confirmed' THEN amount ELSE 0 END) AS amount
FROM transfers
WHERE status = 'pending' AND phase = 'confirming'
GROUP BY currency
ORDER BY currency
"""

# Column text → domain value, by dictionary: cheaper than Enum() for every row of a batch.
_STATUS: Final = {member.value: member for member in TransferStatus}
_PHASE: Final = {member.value: member for member in SagaPhase}
_TRIED: Final[dict[str | None, TryResult | None]] = {None: None} | {m.value: m for m in TryResult}
_RESOLVED: Final[dict[str | None, Resolution | None]] = {None: None} | {
    m.value: m for m in Resolution
}


@asynccontextmanager
async def read_snapshot(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A read-only connection whose queries all see one snapshot (REPEATABLE READ)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


def inserting_sagas(sagas: Sequence[TransferSaga]) -> list[Write]:
    """The write that stores new sagas, all of them at once, to send with the batch's other
    writes (`write_together`); none for no saga."""
    if not sagas:
        return []
    rows = [_row_values(saga) for saga in sagas]
    return [Write(_INSERT, tuple(list(column) for column in zip(*rows, strict=True)))]


async def lock_sagas(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, TransferSaga]:
    """The sagas with these ids, locked for this transaction (in id order: no deadlock)."""
    rows = await conn.fetch(_LOCK, sorted(set(ids)))
    return {row["id"]: _saga(row) for row in rows}


def saving_sagas(sagas: Sequence[TransferSaga]) -> list[Write]:
    """The write that stores the mutable state of sagas already stored, all of them at once,
    to send with the batch's other writes (`write_together`); none for no saga."""
    if not sagas:
        return []
    rows = [(saga.id, *_state_values(saga), saga.updated_at, saga.decided_at) for saga in sagas]
    return [Write(_SAVE, tuple(list(column) for column in zip(*rows, strict=True)))]


async def get_saga(
    conn: asyncpg.Connection | asyncpg.Pool, transfer_id: str
) -> TransferSaga | None:
    """One saga, unlocked (for reads)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM transfers WHERE id = $1", transfer_id)
    return None if row is None else _saga(row)


async def list_for_wallet(
    conn: asyncpg.Connection | asyncpg.Pool,
    wallet_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[TransferSaga]:
    """A wallet's transfers (as source or destination), newest first, after a position."""
    if after is None:
        rows = await conn.fetch(_FIRST_PAGE, wallet_id, limit)
    else:
        rows = await conn.fetch(_NEXT_PAGE, wallet_id, limit, after[0], after[1])
    return [_saga(row) for row in rows]


async def lock_expired(
    conn: asyncpg.Connection, *, now: datetime, limit: int
) -> list[TransferSaga]:
    """Sagas still trying past their deadline that no one else holds, locked."""
    return [_saga(row) for row in await conn.fetch(_LOCK_EXPIRED, now, limit)]


async def lock_idle(
    conn: asyncpg.Connection, *, idle_since: datetime, limit: int
) -> list[TransferSaga]:
    """Unfinished sagas not updated since `idle_since` that no one else holds, locked."""
    return [_saga(row) for row in await conn.fetch(_LOCK_IDLE, idle_since, limit)]


def final_notices(transfer_ids: Sequence[str], *, announcer: str | None = None) -> list[Write]:
    """The statement announcing final transfers on `FINAL_CHANNEL` (PostgreSQL delivers the
    notices at commit), to send last among the batch's writes; none for no transfer.

    `announcer` names the caller when it hands the committed sagas to its own waiters: its
    listener, which hears the notice before the commit returns, leaves them to that hand-over
    instead of waking them to read what they are about to be given.
    """
    if not transfer_ids:
        return []
    return [Write(_NOTIFY_FINAL, (FINAL_CHANNEL, list(transfer_ids), announcer))]


def parse_final_notice(payload: str) -> tuple[str, str | None]:
    """The transfer id of a `FINAL_CHANNEL` notice, and its announcer (None when unnamed)."""
    transfer_id, _, announcer = payload.partition(" ")
    return transfer_id, announcer or None


async def count_pending(conn: asyncpg.Connection) -> int:
    """How many transfers are not final."""
    count: int = await conn.fetchval("SELECT count(*) FROM transfers WHERE status = 'pending'")
    return count


async def stuck_ids(
    conn: asyncpg.Connection, *, deadline_before: datetime, limit: int
) -> list[str]:
    """Unfinished transfers whose deadline passed before `deadline_before`, oldest first."""
    rows = await conn.fetch(
        "SELECT id FROM transfers WHERE status = 'pending' AND deadline_at < $1"
        " ORDER BY deadline_at, id LIMIT $2",
        deadline_before,
        limit,
    )
    return [row["id"] for row in rows]


async def final_among(conn: asyncpg.Connection, transfer_ids: Sequence[str]) -> list[str]:
    """Which of these transfers are final."""
    rows = await conn.fetch(
        "SELECT id FROM transfers WHERE id = ANY($1::text[]) AND status <> 'pending' ORDER BY id",
        list(transfer_ids),
    )
    return [row["id"] for row in rows]


async def sagas_among(conn: asyncpg.Connection, transfer_ids: Sequence[str]) -> list[TransferSaga]:
    """The sagas with these ids (unlocked, for reads), in id order; unknown ids are left out."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM transfers WHERE id = ANY($1::text[]) ORDER BY id",
        sorted(set(transfer_ids)),
    )
    return [_saga(row) for row in rows]


async def in_flight_by_currency(conn: asyncpg.Connection) -> dict[str, int]:
    """Per currency, money confirmed on the source side of unfinished transfers only."""
    return {row["currency"]: int(row["amount"]) for row in await conn.fetch(_IN_FLIGHT)}


async def pending_ids_before(conn: asyncpg.Connection, recent_from: str) -> list[str]:
    """Unfinished sagas whose id is older than `recent_from` (byte order)."""
    rows = await conn.fetch(
        "SELECT id FROM transfers WHERE status = 'pending' AND id COLLATE \"C\" < $1 ORDER BY id",
        recent_from,
    )
    return [row["id"] for row in rows]


# What completed sagas left in each bucket's clearing account: a confirmed debit puts the amount
# into the source's shard's clearing, a confirmed credit takes it out of the destination's.
_SETTLED_CLEARING: Final = """
SELECT bucket, currency, sum(change) AS total FROM (
    SELECT substr(source_wallet_id, 5, 3) AS bucket, currency, amount AS change
    FROM transfers
    WHERE status = 'completed' AND id COLLATE "C" < $1 AND id <> ALL($2::text[])
    UNION ALL
    SELECT substr(destination_wallet_id, 5, 3), currency, -amount
    FROM transfers
    WHERE status = 'completed' AND id COLLATE "C" < $1 AND id <> ALL($2::text[])
) AS moves
GROUP BY bucket, currency
"""


async def settled_clearing(
    conn: asyncpg.Connection, *, recent_from: str, excluded: Sequence[str]
) -> list[tuple[int, str, int]]:
    """(bucket, currency, net clearing) of the completed sagas older than `recent_from` and not
    `excluded`: one pass over the table."""
    rows = await conn.fetch(_SETTLED_CLEARING, recent_from, list(excluded))
    return [(int(row["bucket"], 16), row["currency"], int(row["total"])) for row in rows]


def _row_values(saga: TransferSaga) -> tuple[Any, ...]:
    return (
        saga.id,
        saga.source_wallet_id,
        saga.destination_wallet_id,
        saga.amount,
        saga.currency,
        saga.description,
        *_state_values(saga),
        saga.initiator,
        saga.trace_id,
        saga.deadline_at,
        saga.created_at,
        saga.updated_at,
        saga.decided_at,
    )


def _state_values(saga: TransferSaga) -> tuple[str | None, ...]:
    """status, phase, debit_tried, credit_tried, debit_resolved, credit_resolved, failure_code:
    what a saga's steps change, in the order of `_COLUMNS` and of `_SAVE`."""
    return (
        saga.status.value,
        saga.phase.value,
        _value(saga.debit.tried),
        _value(saga.credit.tried),
        _value(saga.debit.resolved),
        _value(saga.credit.resolved),
        saga.failure_code,
    )


def _saga(row: asyncpg.Record) -> TransferSaga:
    return TransferSaga(
        id=row["id"],
        source_wallet_id=row["source_wallet_id"],
        destination_wallet_id=row["destination_wallet_id"],
        amount=row["amount"],
        currency=row["currency"],
        description=row["description"],
        initiator=row["initiator"],
        trace_id=row["trace_id"],
        deadline_at=row["deadline_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status=_STATUS[row["status"]],
        phase=_PHASE[row["phase"]],
        debit=LegState(_TRIED[row["debit_tried"]], _RESOLVED[row["debit_resolved"]]),
        credit=LegState(_TRIED[row["credit_tried"]], _RESOLVED[row["credit_resolved"]]),
        failure_code=row["failure_code"],
        decided_at=row["decided_at"],
    )


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member.value
