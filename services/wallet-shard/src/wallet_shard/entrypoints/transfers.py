"""Internal HTTP routes of the transfers this shard books itself: those between two of its
wallets (one local transaction, no saga). The gateway sends them here; the coordinator runs the
others."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response
from wallet_shared.contracts.internal import StartTransferRequest
from wallet_shared.contracts.pagination import DEFAULT_LIMIT, MAX_INTERNAL_LIMIT, Page
from wallet_shared.contracts.rules import MAX_WAIT_S
from wallet_shared.contracts.schemas import ProblemDetail, Transfer
from wallet_shared.platform.idempotency import stored_response_to_http

from wallet_shard.domain.local_transfers import LocalTransferRequest
from wallet_shard.entrypoints.dependencies import Services
from wallet_shard.entrypoints.request_context import IdempotencyKey, ShardCall, idempotent_request
from wallet_shard.service_layer.local_transfers import (
    get_local_transfer,
    list_local_transfers,
)

router = APIRouter(
    prefix="/internal",
    tags=["local transfers"],
    responses={
        404: {"model": ProblemDetail, "description": "Names nothing the caller may see"},
        422: {"model": ProblemDetail, "description": "Invalid input or refused by a rule"},
    },
)


@router.post(
    "/transfers",
    status_code=202,
    response_model=Transfer,
    responses={200: {"model": Transfer, "description": "A repeat, or a wait was asked for"}},
)
async def post_local_transfer(
    body: StartTransferRequest,
    request: Request,
    call: ShardCall,
    idempotency_key: IdempotencyKey = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> Response:
    """Book a transfer between two wallets of this shard: final at once (`completed`, or
    `cancelled` with the failure code); 200 when the call.caller asked to wait for the final state
    (it has it already) or repeats the request, 202 otherwise."""
    transfer = LocalTransferRequest(
        source_wallet_id=body.source_wallet_id,
        destination_wallet_id=body.destination_wallet_id,
        amount=body.amount,
        currency=body.currency,
        description=body.description,
        initiator=body.initiator or call.caller.user_id,
    )
    stored = await call.services.local_transfers.start(
        transfer,
        owner_scope=call.caller.owner_scope,
        idempotency=idempotent_request(request, call.caller, idempotency_key, body),
    )
    response = stored_response_to_http(stored)
    if wait > 0 and response.status_code == 202:
        response.status_code = 200
    return response


@router.get("/transfers/{transfer_id}", response_model=Transfer)
async def get_one_local_transfer(transfer_id: str, services: Services) -> Transfer:
    """One local transfer; 404 `not_found` when the id names none."""
    return await get_local_transfer(services.uow, transfer_id)


@router.get("/transfers", response_model=Page[Transfer])
async def list_wallet_local_transfers(
    services: Services,
    wallet_id: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=MAX_INTERNAL_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[Transfer]:
    """A wallet's local transfers (as source or destination), newest first."""
    return await list_local_transfers(services.uow, wallet_id=wallet_id, limit=limit, cursor=cursor)
