"""Internal HTTP routes of a shard (docs/internals.md), called only by the gateway.

Each route parses its input, builds a command, calls one handler and renders the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response
from wallet_shared.contracts.internal import ShardIntegrityReport, ShardIntegrityRequest
from wallet_shared.contracts.pagination import DEFAULT_LIMIT, MAX_INTERNAL_LIMIT, MAX_LIMIT
from wallet_shared.contracts.schemas import (
    CreateWallet,
    Deposit,
    ProblemDetail,
    Transaction,
    TransactionPage,
    TransactionType,
    Wallet,
    WalletPage,
    Withdrawal,
)
from wallet_shared.platform.http import Caller
from wallet_shared.platform.idempotency import stored_response_to_http

from wallet_shard.adapters.journal_repository import TransactionFilter
from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.entrypoints.dependencies import Services
from wallet_shard.entrypoints.query_params import parse_timestamp
from wallet_shard.entrypoints.request_context import IdempotencyKey, ShardCall, idempotent_request
from wallet_shard.service_layer import movements, transactions, wallets
from wallet_shard.service_layer.commands import (
    MoveMoney,
    OpenWallet,
    StatusChange,
)
from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shard.service_layer.views import wallet_view

router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    responses={
        404: {"model": ProblemDetail, "description": "Names nothing the caller may see"},
        422: {"model": ProblemDetail, "description": "Invalid input or refused by a rule"},
    },
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
MergedLimit = Annotated[int, Query(ge=1, le=MAX_INTERNAL_LIMIT)]
"""The page size of a list the gateway merges across shards (it asks one item more)."""


@router.post("/wallets", status_code=201, response_model=Wallet)
async def create_wallet(body: CreateWallet, call: ShardCall) -> Wallet:
    user_id = body.user_id or call.caller.owner_scope or call.caller.user_id
    command = OpenWallet(user_id=user_id, currency=body.currency, label=body.label)
    wallet = await wallets.open_wallet(
        call.services.uow, call.services.shard, command, owner_scope=call.caller.owner_scope
    )
    return wallet_view(wallet)


@router.get("/wallets", response_model=WalletPage)
async def list_wallets(
    call: ShardCall,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: MergedLimit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> WalletPage:
    return await wallets.list_wallets(
        call.services.uow,
        user_id=user_id or None,  # `?user_id=` (empty) lists everyone, like no parameter
        owner_scope=call.caller.owner_scope,
        limit=limit,
        cursor=cursor,
    )


@router.get("/wallets/{wallet_id}", response_model=Wallet)
async def get_wallet(wallet_id: str, call: ShardCall) -> Wallet:
    wallet = await wallets.get_wallet(
        call.services.uow, wallet_id, owner_scope=call.caller.owner_scope
    )
    return wallet_view(wallet)


@router.post("/wallets/{wallet_id}/deposits", status_code=201, response_model=Transaction)
async def deposit(
    wallet_id: str,
    body: Deposit,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _move_money(
        call.services.cash.deposit,
        wallet_id,
        body,
        request,
        call.caller,
        call.origin,
        idempotency_key,
    )


@router.post("/wallets/{wallet_id}/withdrawals", status_code=201, response_model=Transaction)
async def withdraw(
    wallet_id: str,
    body: Withdrawal,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _move_money(
        call.services.cash.withdraw,
        wallet_id,
        body,
        request,
        call.caller,
        call.origin,
        idempotency_key,
    )


@router.post("/wallets/{wallet_id}/freeze", response_model=Wallet)
async def freeze(wallet_id: str, call: ShardCall) -> Wallet:
    return await _change_status(
        wallet_id, StatusChange.FREEZE, call.caller, call.services, call.origin
    )


@router.post("/wallets/{wallet_id}/unfreeze", response_model=Wallet)
async def unfreeze(wallet_id: str, call: ShardCall) -> Wallet:
    return await _change_status(
        wallet_id, StatusChange.UNFREEZE, call.caller, call.services, call.origin
    )


@router.post("/wallets/{wallet_id}/close", response_model=Wallet)
async def close(wallet_id: str, call: ShardCall) -> Wallet:
    return await _change_status(
        wallet_id, StatusChange.CLOSE, call.caller, call.services, call.origin
    )


@router.get("/wallets/{wallet_id}/transactions", response_model=TransactionPage)
async def list_transactions(
    wallet_id: str,
    call: ShardCall,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
    type: Annotated[TransactionType | None, Query()] = None,
    since: str | None = None,
    until: str | None = None,
) -> TransactionPage:
    only = TransactionFilter(
        type=type,
        since=parse_timestamp(since, field="since"),
        until=parse_timestamp(until, field="until"),
    )
    return await transactions.list_transactions(
        call.services.uow,
        wallet_id,
        owner_scope=call.caller.owner_scope,
        limit=limit,
        cursor=cursor,
        only=only,
    )


@router.get("/integrity", response_model=ShardIntegrityReport)
async def integrity(services: Services) -> ShardIntegrityReport:
    return await shard_integrity(services.uow, services.shard)


@router.post("/integrity", response_model=ShardIntegrityReport)
async def integrity_in_cut(body: ShardIntegrityRequest, services: Services) -> ShardIntegrityReport:
    """The same report, with the confirmed legs of the integrity check's cut: the sagas with
    ids from `recent_from` on, and those named (docs/internals.md, "Integrity")."""
    return await shard_integrity(
        services.uow,
        services.shard,
        recent_from=body.recent_from,
        transfer_ids=body.transfer_ids,
    )


async def _change_status(
    wallet_id: str,
    change: StatusChange,
    caller: Caller,
    services: Services,
    origin: MovementRequest,
) -> Wallet:
    wallet = await wallets.change_status(
        services.uow,
        services.shard,
        wallet_id,
        change,
        owner_scope=caller.owner_scope,
        origin=origin,
    )
    return wallet_view(wallet)


async def _move_money(
    handler: movements.CashMovement,
    wallet_id: str,
    body: Deposit,
    request: Request,
    caller: Caller,
    origin: MovementRequest,
    idempotency_key: str | None,
) -> Response:
    command = MoveMoney(
        wallet_id=wallet_id, amount=body.amount, reference=body.reference, metadata=body.metadata
    )
    stored = await handler(
        command,
        owner_scope=caller.owner_scope,
        request=idempotent_request(request, caller, idempotency_key, body),
        origin=origin,
    )
    return stored_response_to_http(stored)
