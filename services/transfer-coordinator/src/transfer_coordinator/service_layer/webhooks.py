"""Handlers for webhook endpoints: register (the secret is shown once), list, delete, their
deliveries, and an admin's retry of a failed delivery. Every change is audited in its own
transaction."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Final

import asyncpg
from wallet_shared.contracts.admin_schemas import (
    Webhook,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookPage,
)
from wallet_shared.contracts.errors import Conflict, NotFound, ValidationFailed
from wallet_shared.contracts.ids import new_record_id
from wallet_shared.contracts.pagination import (
    cut_page,
    decode_cursor,
    invalid_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.platform.audit import AuditEntry, record_actions

from transfer_coordinator.adapters import webhook_repository as repository
from transfer_coordinator.adapters.webhook_sender import Resolver
from transfer_coordinator.domain.webhooks import all_allowed, check_event_types, endpoint_of
from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.settings import SERVICE

WEBHOOK_PREFIX: Final = "whk_"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (a prefix, not a secret)


async def register_webhook(
    ctx: OversightContext, *, url: str, event_types: list[str], audit: AuditEntry
) -> WebhookCreated:
    """A new endpoint with a fresh secret (returned here only)."""
    await check_webhook_url(url, allow_private=ctx.allow_private_urls, resolve=ctx.resolve)
    chosen = check_event_types(event_types)
    webhook_id = new_record_id(WEBHOOK_PREFIX)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    async with ctx.uow.transaction() as tx:
        row = await repository.add_webhook(
            tx.conn, webhook_id=webhook_id, url=url, event_types=chosen, secret=secret,
            created_by=audit.actor or "",
        )  # fmt: skip
        await _audit(tx.conn, audit, target=webhook_id, at=row["created_at"])
    return WebhookCreated(**dict(row), secret=secret)


async def check_webhook_url(url: str, *, allow_private: bool, resolve: Resolver) -> None:
    """`ValidationFailed` unless `url` may receive webhooks: `https`, and a host whose every
    address is public (checked again at each delivery, since DNS can change)."""
    endpoint = endpoint_of(url, allow_private=allow_private)
    try:
        addresses = await resolve(endpoint.host, endpoint.port)
    except OSError as error:
        raise _url_refused("must name a host that resolves") from error
    if not all_allowed(addresses, allow_private=allow_private):
        raise _url_refused("must resolve to public addresses only")


def _url_refused(message: str) -> ValidationFailed:
    return ValidationFailed(
        "The url is not acceptable.", errors=[{"field": "url", "message": message}]
    )


async def list_webhooks(ctx: OversightContext, *, limit: int, cursor: str | None) -> WebhookPage:
    before = parse_time_position(decode_cursor(cursor, arity=2)) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await repository.webhooks_page(conn, before=before, limit=limit + 1)
    hooks = [Webhook(**dict(row)) for row in rows]
    page, next_cursor = cut_page(
        hooks, limit=limit, position=lambda last: time_position(last.created_at, last.id)
    )
    return WebhookPage(items=page, next_cursor=next_cursor)


async def delete_webhook(ctx: OversightContext, webhook_id: str, *, audit: AuditEntry) -> None:
    """Retire an endpoint: nothing more is queued or sent to it."""
    async with ctx.uow.transaction() as tx:
        if not await repository.delete_webhook(tx.conn, webhook_id):
            raise NotFound("No such webhook.")
        await _audit(tx.conn, audit, target=webhook_id, at=ctx.clock())


async def list_deliveries(
    ctx: OversightContext, webhook_id: str, *, limit: int, cursor: str | None
) -> WebhookDeliveryPage:
    before_id = _delivery_position(cursor) if cursor else None
    async with ctx.pool.acquire() as conn:
        if not await repository.webhook_exists(conn, webhook_id):
            raise NotFound("No such webhook.")
        rows = await repository.deliveries_page(
            conn, webhook_id, before_id=before_id, limit=limit + 1
        )
    page, next_cursor = cut_page(rows, limit=limit, position=lambda last: [last["id"]])
    return WebhookDeliveryPage(items=[delivery_view(row) for row in page], next_cursor=next_cursor)


async def retry_delivery(
    ctx: OversightContext, webhook_id: str, delivery_id: str, *, audit: AuditEntry
) -> WebhookDelivery:
    """Send a failed delivery again (with a fresh retry window); `Conflict` unless failed."""
    number = _delivery_number(delivery_id)
    async with ctx.uow.transaction() as tx:
        row, retried = await repository.retry_failed(tx.conn, webhook_id, number)
        if row is None:
            raise NotFound("No such delivery.")
        if not retried:
            raise Conflict("Only a failed delivery can be retried.")
        await _audit(tx.conn, audit, target=delivery_id, at=ctx.clock())
    ctx.wake_dispatcher()
    return delivery_view(row)


def delivery_view(row: asyncpg.Record) -> WebhookDelivery:
    fields = dict(row)
    fields["id"] = f"{repository.DELIVERY_PREFIX}{row['id']}"
    return WebhookDelivery(**fields)


def _delivery_number(delivery_id: str) -> int:
    digits = delivery_id.removeprefix(repository.DELIVERY_PREFIX)
    if digits == delivery_id or not digits.isdigit() or len(digits) > 18:
        raise NotFound("No such delivery.")
    return int(digits)


def _delivery_position(cursor: str) -> int:
    (position,) = decode_cursor(cursor, arity=1)
    if not isinstance(position, int) or position < 0:
        raise invalid_cursor()
    return position


async def _audit(conn: asyncpg.Connection, entry: AuditEntry, *, target: str, at: datetime) -> None:
    await record_actions(conn, [replace(entry, target=target)], service=SERVICE, at=at)
