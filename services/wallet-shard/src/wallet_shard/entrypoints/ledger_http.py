"""Internal HTTP routes for purchases, refunds, reversals, spending limits, the balance at an
instant and statements (docs/internals.md). Called only by the gateway, which has checked roles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse
from wallet_shared.contracts.schemas import (
    BalanceAt,
    CreatePurchase,
    CreateRefund,
    CreateReversal,
    ProblemDetail,
    SetLimits,
    SpendingLimits,
    Statement,
    Transaction,
)
from wallet_shared.platform.idempotency import stored_response_to_http

from wallet_shard.entrypoints.query_params import parse_timestamp
from wallet_shard.entrypoints.request_context import IdempotencyKey, ShardCall, idempotent_request
from wallet_shard.entrypoints.statement_formats import (
    CSV_MEDIA_TYPE,
    statement_csv,
    statement_json,
)
from wallet_shard.service_layer import ledger_views, limits, merchant, reversals
from wallet_shard.service_layer.commands import (
    ChangeLimits,
    PayOrder,
    RefundPurchase,
    ReverseTransaction,
)

router = APIRouter(
    prefix="/internal/wallets/{wallet_id}",
    tags=["internal"],
    responses={
        404: {"model": ProblemDetail, "description": "Names nothing the caller may see"},
        422: {"model": ProblemDetail, "description": "Invalid input or refused by a rule"},
    },
)


@router.post("/purchases", status_code=201, response_model=Transaction)
async def purchase(
    wallet_id: str,
    body: CreatePurchase,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = PayOrder(wallet_id, body.amount, body.order_id, body.merchant)
    stored = await merchant.purchase(
        call.services.uow,
        call.services.shard,
        command,
        owner_scope=call.caller.owner_scope,
        request=idempotent_request(request, call.caller, idempotency_key, body),
        origin=call.origin,
    )
    return stored_response_to_http(stored)


@router.post("/refunds", status_code=201, response_model=Transaction)
async def refund(
    wallet_id: str,
    body: CreateRefund,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = RefundPurchase(wallet_id, body.purchase_id, body.amount)
    stored = await merchant.refund(
        call.services.uow,
        call.services.shard,
        command,
        request=idempotent_request(request, call.caller, idempotency_key, body),
        origin=call.origin,
    )
    return stored_response_to_http(stored)


@router.post("/transactions/{transaction_id}/reversal", status_code=201, response_model=Transaction)
async def reverse(
    wallet_id: str,
    transaction_id: str,
    body: CreateReversal,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = ReverseTransaction(wallet_id, transaction_id, body.reason)
    stored = await reversals.reverse(
        call.services.uow,
        call.services.shard,
        command,
        request=idempotent_request(request, call.caller, idempotency_key, body),
        origin=call.origin,
    )
    return stored_response_to_http(stored)


@router.get("/limits", response_model=SpendingLimits)
async def get_limits(wallet_id: str, call: ShardCall) -> SpendingLimits:
    return await limits.get_limits(
        call.services.uow, call.services.shard, wallet_id, owner_scope=call.caller.owner_scope
    )


@router.put("/limits", response_model=SpendingLimits)
async def set_limits(wallet_id: str, body: SetLimits, call: ShardCall) -> SpendingLimits:
    command = ChangeLimits(wallet_id, daily=body.daily, monthly=body.monthly)
    return await limits.set_limits(
        call.services.uow, call.services.shard, command, origin=call.origin
    )


@router.get("/balance", response_model=BalanceAt)
async def balance_at(wallet_id: str, call: ShardCall, at: Annotated[str, Query()]) -> BalanceAt:
    instant = parse_timestamp(at, field="at")
    assert instant is not None  # `at` is required
    return await ledger_views.balance_at(
        call.services.uow, wallet_id, instant, owner_scope=call.caller.owner_scope
    )


@router.get("/statement", response_model=Statement)
async def statement(
    wallet_id: str,
    call: ShardCall,
    since: str | None = None,
    until: str | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    start = parse_timestamp(since, field="since")
    end = await ledger_views.check_statement(
        call.services.uow,
        call.services.shard,
        wallet_id,
        since=start,
        until=parse_timestamp(until, field="until"),
        owner_scope=call.caller.owner_scope,
    )
    parts = ledger_views.statement(call.services.uow, wallet_id, since=start, until=end)
    if accept is not None and CSV_MEDIA_TYPE in accept:
        return StreamingResponse(
            statement_csv(parts),
            media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8; header=present",
            headers={"Content-Disposition": f'attachment; filename="{wallet_id}.csv"'},
        )
    return StreamingResponse(statement_json(parts), media_type="application/json")
