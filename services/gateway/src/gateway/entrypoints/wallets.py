"""`/v1/wallets`: parse the request, call the handler, relay the answer."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BeforeValidator
from starlette.responses import Response
from wallet_shared.contracts.pagination import DEFAULT_LIMIT, MAX_LIMIT
from wallet_shared.contracts.schemas import (
    CreateWallet,
    Deposit,
    Transaction,
    TransactionPage,
    TransactionType,
    Wallet,
    WalletPage,
    Withdrawal,
)

from gateway.entrypoints.dependencies import Gateway, IdempotencyKeyHeader
from gateway.entrypoints.openapi import problem_responses
from gateway.entrypoints.responses import relay
from gateway.service_layer import wallets

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])

WalletId = Annotated[str, Path(description="A wallet id (opaque).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1-200.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page.",
    ),
]


def _offset_sign_from_query(raw: object) -> object:
    # An unencoded `+` in a query string arrives as a space: `...T10:00:00 02:00`.
    if isinstance(raw, str) and re.fullmatch(r".+\d [0-9]{2}:[0-9]{2}", raw):
        return f"{raw[:-6]}+{raw[-5:]}"
    return raw


Timestamp = Annotated[AwareDatetime, BeforeValidator(_offset_sign_from_query)]
OwnerFilter = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Admin, auditor: one owner's wallets."),
]


@router.post(
    "",
    status_code=201,
    response_model=Wallet,
    summary="Create a wallet (admins may name the owner)",
    responses=problem_responses(403, 413, 422),
)
async def create_wallet(command: CreateWallet, gw: Gateway) -> Response:
    return relay(await wallets.create_wallet(gw.backends, gw.shards, gw.caller, command))


@router.get(
    "",
    response_model=WalletPage,
    summary="List wallets: a user's own; everyone's (or one user's) for admin and auditor",
    responses=problem_responses(403, 422),
)
async def list_wallets(
    gw: Gateway,
    user_id: OwnerFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    reply = await wallets.list_wallets(
        gw.backends, gw.shards, gw.caller, user_id=user_id, limit=limit, cursor=cursor
    )
    return relay(reply)


@router.get(
    "/{wallet_id}",
    response_model=Wallet,
    summary="One wallet",
    responses=problem_responses(404),
)
async def get_wallet(wallet_id: WalletId, gw: Gateway) -> Response:
    return relay(await wallets.get_wallet(gw.backends, gw.shards, gw.caller, wallet_id))


@router.post(
    "/{wallet_id}/deposits",
    status_code=201,
    response_model=Transaction,
    summary="Deposit money from outside (owner, admin; Idempotency-Key required)",
    responses=problem_responses(400, 403, 404, 409, 413, 422),
)
async def deposit(
    wallet_id: WalletId,
    command: Deposit,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    reply = await wallets.move_money(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        movement="deposits",
        command=command,
        raw_idempotency_key=idempotency_key,
        max_amount=gw.settings.max_amount,
        origin=gw.origin,
    )
    return relay(reply)


@router.post(
    "/{wallet_id}/withdrawals",
    status_code=201,
    response_model=Transaction,
    summary="Withdraw money (owner, admin; Idempotency-Key required)",
    responses=problem_responses(400, 403, 404, 409, 413, 422),
)
async def withdraw(
    wallet_id: WalletId,
    command: Withdrawal,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    reply = await wallets.move_money(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        movement="withdrawals",
        command=command,
        raw_idempotency_key=idempotency_key,
        max_amount=gw.settings.max_amount,
        origin=gw.origin,
    )
    return relay(reply)


@router.post(
    "/{wallet_id}/freeze",
    response_model=Wallet,
    summary="Freeze a wallet: no money moves out or in (admin)",
    responses=problem_responses(403, 404, 409, 422),
)
async def freeze(wallet_id: WalletId, gw: Gateway) -> Response:
    reply = await wallets.change_status(
        gw.backends, gw.shards, gw.caller, wallet_id, "freeze", gw.origin
    )
    return relay(reply)


@router.post(
    "/{wallet_id}/unfreeze",
    response_model=Wallet,
    summary="Make a frozen wallet active again (admin)",
    responses=problem_responses(403, 404, 409, 422),
)
async def unfreeze(wallet_id: WalletId, gw: Gateway) -> Response:
    reply = await wallets.change_status(
        gw.backends, gw.shards, gw.caller, wallet_id, "unfreeze", gw.origin
    )
    return relay(reply)


@router.post(
    "/{wallet_id}/close",
    response_model=Wallet,
    summary="Close a wallet; it must hold no money (admin)",
    responses=problem_responses(403, 404, 409, 422),
)
async def close(wallet_id: WalletId, gw: Gateway) -> Response:
    reply = await wallets.change_status(
        gw.backends, gw.shards, gw.caller, wallet_id, "close", gw.origin
    )
    return relay(reply)


@router.get(
    "/{wallet_id}/transactions",
    response_model=TransactionPage,
    summary="A wallet's transactions, newest first",
    responses=problem_responses(404, 422),
)
async def list_transactions(
    wallet_id: WalletId,
    gw: Gateway,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    type_: Annotated[TransactionType | None, Query(alias="type")] = None,
    since: Annotated[Timestamp | None, Query(description="RFC 3339 with offset")] = None,
    until: Annotated[Timestamp | None, Query(description="RFC 3339 with offset")] = None,
) -> Response:
    reply = await wallets.list_transactions(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        limit=limit,
        cursor=cursor,
        type_=type_,
        since=since,
        until=until,
    )
    return relay(reply)
