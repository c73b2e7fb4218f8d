"""The audit log: who did what, written by the service where the action happens, in the same
transaction as the action (an action that happened has its record; a record without its action
cannot exist). The table (`audit_log`, shared migration 003) refuses UPDATE, DELETE and TRUNCATE.

Every service with a database serves its part at `GET /internal/audit-log` (mount
`audit_router()`, put the pool in `app.state.pool`); the gateway merges them newest first by
`(at, id)`, the same cursor position on every service (ids are time-ordered and unique).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from wallet_shared.contracts.admin_schemas import AuditRecord
from wallet_shared.contracts.ids import new_record_id
from wallet_shared.contracts.pagination import (
    DEFAULT_LIMIT,
    MAX_INTERNAL_LIMIT,
    Page,
    cut_page,
    decode_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.contracts.schemas import ProblemDetail
from wallet_shared.platform.http import Caller, internal_caller
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.metrics import AUDIT_RECORDS

AUDIT_PREFIX: Final = "aud_"
_MAX_TEXT: Final = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An action to record: who (actor, role), what (action), on what (target, wallet_id), why
    (reason), and where from (trace id, client address, user agent)."""

    action: str
    actor: str | None
    role: str | None
    target: str | None = None
    wallet_id: str | None = None
    reason: str | None = None
    trace_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None


def requested_action(
    caller: Caller,
    request: Request,
    action: str,
    *,
    target: str | None,
    wallet_id: str | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """The record of `action` asked for by `caller` over an internal route: the client's address
    and user agent are what the gateway saw (`X-Client-Address`, `X-Client-User-Agent`)."""
    return AuditEntry(
        action=action,
        actor=caller.user_id,
        role=caller.role,
        target=target,
        wallet_id=wallet_id,
        reason=reason,
        trace_id=current_trace_id() or None,
        client_address=request.headers.get("x-client-address"),
        user_agent=request.headers.get("x-client-user-agent"),
    )


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What `GET /v1/admin/audit-log` narrows the list by (all optional, combined with AND)."""

    actor: str | None = None
    action: str | None = None
    wallet_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_ENTRY_COLUMNS: Final = (
    *("actor", "role", "action", "target", "wallet_id"),
    *("reason", "trace_id", "client_address", "user_agent"),
)
_INSERT: Final = """
INSERT INTO audit_log (id, at, actor, role, action, target, wallet_id, reason, trace_id,
                       client_address, user_agent)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
"""


async def record_actions(
    conn: asyncpg.Connection, entries: Sequence[AuditEntry], *, service: str, at: datetime
) -> None:
    """Write `entries` inside the caller's open transaction (they commit with the action)."""
    if not entries:
        return
    columns: list[list[Any]] = [[new_record_id(AUDIT_PREFIX) for _ in entries], [at] * len(entries)]
    for name in _ENTRY_COLUMNS:
        columns.append([_text(getattr(entry, name)) for entry in entries])
    await conn.execute(_INSERT, *columns)
    for entry in entries:
        AUDIT_RECORDS.labels(service, entry.action).inc()


_SELECT: Final = """
SELECT id, at, actor, role, action, target, wallet_id, reason, trace_id, client_address,
       user_agent
FROM audit_log
WHERE ($1::text IS NULL OR actor = $1)
  AND ($2::text IS NULL OR action = $2)
  AND ($3::text IS NULL OR wallet_id = $3 OR target = $3)
  AND ($4::timestamptz IS NULL OR at >= $4)
  AND ($5::timestamptz IS NULL OR at < $5)
  AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7))
ORDER BY at DESC, id DESC
LIMIT $8
"""


async def audit_page(
    pool: asyncpg.Pool, filters: AuditFilters, *, limit: int, cursor: str | None
) -> Page[AuditRecord]:
    """This service's records newest first, after the cursor's `(at, id)` position."""
    before = parse_time_position(decode_cursor(cursor, arity=2)) if cursor else (None, None)
    rows = await pool.fetch(
        _SELECT,
        filters.actor,
        filters.action,
        filters.wallet_id,
        filters.since,
        filters.until,
        *before,
        limit + 1,
    )
    records = [_record(row) for row in rows]
    page, next_cursor = cut_page(
        records, limit=limit, position=lambda last: time_position(last.at, last.id)
    )
    return Page[AuditRecord](items=page, next_cursor=next_cursor)


def _record(row: asyncpg.Record) -> AuditRecord:
    fields = dict(row)
    fields["client"] = fields.pop("client_address")
    return AuditRecord.model_validate(fields)


def _text(value: str | None) -> str | None:
    # Bounded and NUL-free: the record keeps what is readable of whatever a client sent.
    return None if value is None else value.replace("\x00", "")[:_MAX_TEXT]


async def _pool_of_app(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def audit_router() -> APIRouter:
    """`GET /internal/audit-log` of one service, on the pool in `app.state.pool`."""
    router = APIRouter(
        prefix="/internal/audit-log", tags=["audit"], dependencies=[Depends(internal_caller)]
    )

    @router.get("", response_model=Page[AuditRecord], responses={422: {"model": ProblemDetail}})
    async def get_audit_log(
        pool: Annotated[asyncpg.Pool, Depends(_pool_of_app)],
        limit: Annotated[int, Query(ge=1, le=MAX_INTERNAL_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[str | None, Query(max_length=200)] = None,
        wallet_id: Annotated[str | None, Query(max_length=200)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[AuditRecord]:
        """This service's audit records, newest first."""
        filters = AuditFilters(actor, action, wallet_id, since, until)
        return await audit_page(pool, filters, limit=limit, cursor=cursor)

    return router
