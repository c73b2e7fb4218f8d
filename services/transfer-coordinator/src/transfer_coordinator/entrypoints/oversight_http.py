"""Internal routes of webhooks, risk flags and the audit records the gateway writes (refused
requests, integrity runs). Only the gateway calls them, for admins and auditors it checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response
from wallet_shared.contracts.admin_schemas import (
    CreateWebhook,
    RiskFlagPage,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookPage,
)
from wallet_shared.contracts.internal import GatewayAuditBatch
from wallet_shared.contracts.pagination import DEFAULT_LIMIT, MAX_INTERNAL_LIMIT
from wallet_shared.contracts.schemas import ProblemDetail
from wallet_shared.platform.audit import AuditEntry, record_actions, requested_action
from wallet_shared.platform.http import Caller, internal_caller

from transfer_coordinator.service_layer import webhooks
from transfer_coordinator.service_layer.oversight import OversightContext
from transfer_coordinator.service_layer.risk_flags import list_risk_flags
from transfer_coordinator.settings import SERVICE

router = APIRouter(prefix="/internal", tags=["oversight"], dependencies=[Depends(internal_caller)])
_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": ProblemDetail} for code in (404, 409, 422)
}


async def _oversight(request: Request) -> OversightContext:
    context: OversightContext = request.app.state.oversight
    return context


Oversight = Annotated[OversightContext, Depends(_oversight)]
CallerDep = Annotated[Caller, Depends(internal_caller)]
Limit = Annotated[int, Query(ge=1, le=MAX_INTERNAL_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses=_PROBLEMS)
async def post_webhook(
    body: CreateWebhook, ctx: Oversight, caller: CallerDep, request: Request
) -> WebhookCreated:
    audit = requested_action(caller, request, "webhook.create", target=None)
    return await webhooks.register_webhook(
        ctx, url=body.url, event_types=body.event_types, audit=audit
    )


@router.get("/webhooks", response_model=WebhookPage, responses=_PROBLEMS)
async def get_webhooks(
    ctx: Oversight, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> WebhookPage:
    return await webhooks.list_webhooks(ctx, limit=limit, cursor=cursor)


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=_PROBLEMS)
async def delete_webhook(
    webhook_id: str, ctx: Oversight, caller: CallerDep, request: Request
) -> Response:
    audit = requested_action(caller, request, "webhook.delete", target=webhook_id)
    await webhooks.delete_webhook(ctx, webhook_id, audit=audit)
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries", response_model=WebhookDeliveryPage, responses=_PROBLEMS
)
async def get_deliveries(
    webhook_id: str, ctx: Oversight, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> WebhookDeliveryPage:
    return await webhooks.list_deliveries(ctx, webhook_id, limit=limit, cursor=cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=WebhookDelivery,
    responses=_PROBLEMS,
)
async def post_retry(
    webhook_id: str, delivery_id: str, ctx: Oversight, caller: CallerDep, request: Request
) -> WebhookDelivery:
    audit = requested_action(caller, request, "webhook.delivery_retry", target=delivery_id)
    return await webhooks.retry_delivery(ctx, webhook_id, delivery_id, audit=audit)


@router.get("/risk-flags", response_model=RiskFlagPage, responses=_PROBLEMS)
async def get_risk_flags(
    ctx: Oversight,
    wallet_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> RiskFlagPage:
    return await list_risk_flags(ctx, wallet_id=wallet_id, limit=limit, cursor=cursor)


@router.post("/audit-log", status_code=204)
async def post_audit_records(batch: GatewayAuditBatch, ctx: Oversight) -> Response:
    """Record what the gateway refused (401, 403) or ran without a backend transaction."""
    entries = [AuditEntry(**record.model_dump()) for record in batch.records]
    async with ctx.uow.transaction() as tx:
        await record_actions(tx.conn, entries, service=SERVICE, at=ctx.clock())
    return Response(status_code=204)
