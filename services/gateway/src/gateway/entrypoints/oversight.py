"""`/v1/admin`: the audit log, webhooks and their deliveries, risk flags."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response
from wallet_shared.contracts.admin_schemas import (
    AuditPage,
    CreateWebhook,
    RiskFlagPage,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookPage,
)
from wallet_shared.contracts.pagination import DEFAULT_LIMIT

from gateway.adapters.backends import expect_ok, path_segment
from gateway.entrypoints.dependencies import Gateway
from gateway.entrypoints.openapi import problem_responses
from gateway.entrypoints.responses import relay
from gateway.entrypoints.wallets import Cursor, Limit
from gateway.service_layer.oversight import audit_log, call_oversight

router = APIRouter(prefix="/v1/admin", tags=["admin"])

WebhookId = Annotated[str, Path(max_length=100, description="A webhook id (opaque).")]
Text = Annotated[str | None, Query(max_length=200)]


@router.get(
    "/audit-log",
    response_model=AuditPage,
    summary="Who did what: admin actions and refused requests, newest first (admin, auditor)",
    description="Freezes, unfreezes, closes, refunds, reversals, limit changes, dead-letter "
    "replays, webhook changes, integrity runs, and every request refused with 401 or 403. "
    "`wallet_id` matches records about that wallet or its transactions; `since` is "
    "inclusive, `until` exclusive.",
    responses=problem_responses(403, 422),
)
async def get_audit_log(
    gw: Gateway,
    actor: Text = None,
    action: Text = None,
    wallet_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    filters = {"actor": actor, "action": action, "wallet_id": wallet_id}
    reply = await audit_log(
        gw.backends,
        gw.caller,
        filters=filters,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return relay(reply)


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a webhook endpoint for event types (admin)",
    description="The answer carries the signing `secret`, shown this once. The URL must be "
    "`https` and resolve to public addresses only (local runs accept `http` on 127.0.0.1). "
    "Each subscribed event is POSTed with `X-Wallet-Event-Id`, `X-Wallet-Event-Type` and "
    '`X-Wallet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.',
    responses=problem_responses(403, 422),
)
async def post_webhook(body: CreateWebhook, gw: Gateway) -> Response:
    reply = await call_oversight(
        gw.backends,
        gw.caller,
        "POST",
        "/internal/webhooks",
        json=body.model_dump(mode="json"),
        origin=gw.origin,
    )
    return relay(expect_ok(reply))


@router.get(
    "/webhooks",
    response_model=WebhookPage,
    summary="Registered webhook endpoints, newest first (admin); secrets are never shown",
    responses=problem_responses(403, 422),
)
async def get_webhooks(
    gw: Gateway, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    params: dict[str, str | int] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    reply = await call_oversight(gw.backends, gw.caller, "GET", "/internal/webhooks", params=params)
    return relay(expect_ok(reply))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Delete a webhook endpoint; its pending deliveries are given up (admin)",
    responses=problem_responses(403, 404),
)
async def delete_webhook(webhook_id: WebhookId, gw: Gateway) -> Response:
    path = f"/internal/webhooks/{path_segment(webhook_id)}"
    expect_ok(await call_oversight(gw.backends, gw.caller, "DELETE", path, origin=gw.origin))
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=WebhookDeliveryPage,
    summary="Deliveries to one endpoint, newest first (admin)",
    description="`pending` deliveries are retried with exponential backoff and jitter (the "
    "first retry within 10 seconds) for at least 24 hours, then `failed`.",
    responses=problem_responses(403, 404, 422),
)
async def get_deliveries(
    webhook_id: WebhookId,
    gw: Gateway,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    params: dict[str, str | int] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    path = f"/internal/webhooks/{path_segment(webhook_id)}/deliveries"
    return relay(
        expect_ok(await call_oversight(gw.backends, gw.caller, "GET", path, params=params))
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=WebhookDelivery,
    summary="Send a failed delivery again, with a fresh retry window (admin)",
    description="Only a `failed` delivery can be retried: any other answers 409 `conflict`.",
    responses=problem_responses(403, 404, 409),
)
async def retry_delivery(
    webhook_id: WebhookId,
    delivery_id: Annotated[str, Path(max_length=100, description="A delivery id (opaque).")],
    gw: Gateway,
) -> Response:
    path = (
        f"/internal/webhooks/{path_segment(webhook_id)}"
        f"/deliveries/{path_segment(delivery_id)}/retry"
    )
    return relay(
        expect_ok(await call_oversight(gw.backends, gw.caller, "POST", path, origin=gw.origin))
    )


@router.get(
    "/risk-flags",
    response_model=RiskFlagPage,
    summary="Movements the risk rules flagged for review, newest first (admin, auditor)",
    description="Rules: `velocity` (more outgoing movements than allowed within a window), "
    "`amount_outlier` (far above the wallet's median outgoing amount), `many_destinations`, "
    "`deposit_then_transfer`. A flag never blocks money; each is also a `risk.flagged` event.",
    responses=problem_responses(403, 422),
)
async def get_risk_flags(
    gw: Gateway,
    wallet_id: Text = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    params: dict[str, str | int] = {"limit": limit}
    params.update({k: v for k, v in (("wallet_id", wallet_id), ("cursor", cursor)) if v})
    reply = await call_oversight(
        gw.backends, gw.caller, "GET", "/internal/risk-flags", readers=("auditor",), params=params
    )
    return relay(expect_ok(reply))
