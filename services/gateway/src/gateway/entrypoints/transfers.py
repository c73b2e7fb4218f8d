"""`/v1/transfers`: parse the request, call the handler, relay the coordinator's answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response
from wallet_shared.contracts.pagination import DEFAULT_LIMIT
from wallet_shared.contracts.schemas import CreateTransfer, Transfer, TransferPage

from gateway.entrypoints.dependencies import Gateway, IdempotencyKeyHeader, PreferHeader
from gateway.entrypoints.openapi import problem_responses
from gateway.entrypoints.responses import relay
from gateway.entrypoints.wallets import Cursor, Limit
from gateway.service_layer import transfers

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])


@router.post(
    "",
    status_code=202,
    response_model=Transfer,
    summary="Start a transfer between two wallets (owner of the source, admin)",
    description="Answers 202 with the transfer (usually `pending`). With `Prefer: wait=N` the "
    "gateway waits up to N seconds and answers 200 when the transfer is final by then "
    "(header `Preference-Applied: wait=N`). A repeat with the same `Idempotency-Key` starts "
    "nothing: it answers 202 with the first body while the transfer is pending, and 200 with "
    "the final transfer once it is final (what a caller who waited was told).",
    responses={
        200: {
            "model": Transfer,
            "description": "Final status reached within `Prefer: wait`",
            "headers": {"Preference-Applied": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 403, 404, 409, 413, 422),
    },
)
async def create_transfer(
    command: CreateTransfer,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
    prefer: PreferHeader = None,
) -> Response:
    reply, wait_s = await transfers.create_transfer(
        gw.backends,
        gw.shards,
        gw.known,
        gw.caller,
        command,
        raw_idempotency_key=idempotency_key,
        prefer=prefer,
        max_amount=gw.settings.max_amount,
    )
    applied = {"Preference-Applied": f"wait={wait_s}"} if wait_s is not None else None
    return relay(reply, headers=applied)


@router.get(
    "",
    response_model=TransferPage,
    summary="The transfers of a wallet, newest first",
    responses=problem_responses(404, 422),
)
async def list_transfers(
    wallet_id: Annotated[str, Query(description="The wallet whose transfers to list.")],
    gw: Gateway,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    reply = await transfers.list_transfers(
        gw.backends, gw.shards, gw.known, gw.caller, wallet_id=wallet_id, limit=limit, cursor=cursor
    )
    return relay(reply)


@router.get(
    "/{transfer_id}",
    response_model=Transfer,
    summary="One transfer (owner of either wallet, admin, auditor)",
    responses=problem_responses(404),
)
async def get_transfer(
    transfer_id: Annotated[str, Path(description="A transfer id (opaque).")], gw: Gateway
) -> Response:
    return relay(
        await transfers.get_transfer(gw.backends, gw.shards, gw.known, gw.caller, transfer_id)
    )
