"""Internal HTTP routes of the coordinator (docs/internals.md). Only the gateway calls them; it has
authenticated the caller and checked that they may use the source wallet."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Final

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response
from wallet_shared.contracts.errors import (
    Forbidden,
    ServiceUnavailable,
    TransientError,
)
from wallet_shared.contracts.internal import (
    CoordinatorIntegrityReport,
    CoordinatorIntegrityRequest,
    IntegrityCut,
    KeyClaimsAnswer,
    KeyClaimsRequest,
    SagaFacts,
    StartTransferRequest,
    TransferLookup,
    TransferLookupAnswer,
)
from wallet_shared.contracts.pagination import DEFAULT_LIMIT, MAX_INTERNAL_LIMIT, Page
from wallet_shared.contracts.rules import MAX_WAIT_S, checked_key
from wallet_shared.contracts.schemas import ProblemDetail, Transfer
from wallet_shared.platform.http import Caller, FastJSONResponse, internal_caller
from wallet_shared.platform.idempotency import stored_response_to_http
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.service_auth import caller_of_scope

from transfer_coordinator.service_layer.claims import Claim, claim_keys
from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.integrity import (
    Cut,
    check_sagas,
    look_up_transfers,
)
from transfer_coordinator.service_layer.outgoing import transfer_json
from transfer_coordinator.service_layer.transfers import (
    StartTransfer,
    TransferRequest,
    TransferStarts,
    get_transfer,
    list_transfers,
)
from transfer_coordinator.service_layer.waiting import FinalWaiters, wait_for_final

router = APIRouter(prefix="/internal", tags=["transfers"])


async def coordinator(request: Request) -> CoordinatorContext:
    context: CoordinatorContext = request.app.state.coordinator
    return context


@dataclass(frozen=True, slots=True)
class TransferStartDesk:
    """What starting a transfer needs, in one dependency: the coordinator, the batches that start
    transfers together, the waiters for final statuses, and the caller the service credential
    proves. One rather than one each: FastAPI solves every dependency of a route on every request
    (about 20 us apiece), and this route runs once per cross-shard transfer."""

    ctx: CoordinatorContext
    starts: TransferStarts
    waiters: FinalWaiters
    caller: Caller


async def transfer_start_desk(request: Request) -> TransferStartDesk:
    state = request.app.state
    return TransferStartDesk(
        ctx=state.coordinator,
        starts=state.transfer_starts,
        waiters=state.final_waiters,
        caller=caller_of_scope(request.scope),
    )


Coordinator = Annotated[CoordinatorContext, Depends(coordinator)]
StartDesk = Annotated[TransferStartDesk, Depends(transfer_start_desk)]
CallerDep = Annotated[Caller, Depends(internal_caller)]


_PROBLEMS: Final[dict[int | str, dict[str, object]]] = {
    code: {"model": ProblemDetail} for code in (400, 404, 409, 422, 503)
}


@router.post(
    "/transfers",
    status_code=202,
    response_model=Transfer,
    responses={200: {"model": Transfer, "description": "Final within `wait`"}, **_PROBLEMS},
)
async def post_transfer(
    body: StartTransferRequest,
    desk: StartDesk,
    idempotency_key: Annotated[str | None, Header()] = None,
    x_request_fingerprint: Annotated[str | None, Header(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> Response:
    """Start a transfer saga (202 pending); with `wait`, answer 200 once it is final."""
    command = _start_command(body, desk.caller, idempotency_key)
    command = replace(command, claim_fingerprint=x_request_fingerprint)
    try:
        stored = await desk.starts.start(command)
    except TransientError as error:
        # Nothing was committed: the caller may retry with the same key.
        raise ServiceUnavailable("The transfer store is unavailable; retry.") from error
    if stored.replayed or stored.status_code != 202 or wait <= 0:
        return stored_response_to_http(stored)
    transfer_id = str(orjson.loads(stored.body)["id"])
    saga = await wait_for_final(
        desk.ctx, desk.waiters, transfer_id, timeout_s=wait, just_started=True
    )
    if saga is None or not saga.is_final:
        return stored_response_to_http(stored)
    return FastJSONResponse(transfer_json(saga), status_code=200)


@router.post("/idempotency-claims", response_model=KeyClaimsAnswer)
async def post_claims(body: KeyClaimsRequest, ctx: Coordinator) -> Response:
    """Claim callers' Idempotency-Keys system-wide (deposits, withdrawals, purchases, refunds,
    reversals and same-shard transfers about to be booked on a shard)."""
    requested = [Claim(c.caller, c.key, c.fingerprint) for c in body.claims]
    try:
        held = await claim_keys(ctx, requested)
    except TransientError as error:
        raise ServiceUnavailable("The claim store is unavailable; retry.") from error
    answer = KeyClaimsAnswer(results=["claimed" if ok else "reused" for ok in held])
    return FastJSONResponse(answer.model_dump(mode="json"))


def _start_command(
    body: StartTransferRequest, caller: Caller, idempotency_key: str | None
) -> StartTransfer:
    key = checked_key(idempotency_key)
    request = TransferRequest(
        source_wallet_id=body.source_wallet_id,
        destination_wallet_id=body.destination_wallet_id,
        amount=body.amount,
        currency=body.currency,
        description=body.description,
        initiator=body.initiator or caller.user_id,
    )
    trace_id = current_trace_id()
    return StartTransfer(
        request=request, caller=caller.user_id, idempotency_key=key, trace_id=trace_id
    )


@router.get("/transfers/{transfer_id}", response_model=Transfer, responses=_PROBLEMS)
async def get_one_transfer(transfer_id: str, ctx: Coordinator) -> Transfer:
    """One transfer; 404 `not_found` when the id names none."""
    return await get_transfer(ctx, transfer_id)


@router.get("/transfers", response_model=Page[Transfer], responses=_PROBLEMS)
async def list_wallet_transfers(
    ctx: Coordinator,
    wallet_id: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=MAX_INTERNAL_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[Transfer]:
    """A wallet's transfers (as source or destination), newest first."""
    return await list_transfers(ctx, wallet_id=wallet_id, limit=limit, cursor=cursor)


@router.post("/integrity", response_model=CoordinatorIntegrityReport, responses=_PROBLEMS)
async def post_integrity(
    body: CoordinatorIntegrityRequest, ctx: Coordinator
) -> CoordinatorIntegrityReport:
    """The coordinator's part of the integrity report, checked against the transfers for which
    the shards still hold legs."""
    cut = (
        None
        if body.cut is None
        else Cut(recent_from=body.cut.recent_from, pending_before=body.cut.pending_before)
    )
    return await _integrity(ctx, body.active_leg_transfer_ids, cut, body.transfer_ids)


@router.post(
    "/transfers/lookup",
    response_model=TransferLookupAnswer,
    responses={403: {"model": ProblemDetail}, **_PROBLEMS},
)
async def post_transfer_lookup(
    body: TransferLookup, ctx: Coordinator, caller: CallerDep
) -> TransferLookupAnswer:
    """The transfers among the ids given (unknown ids are left out), from one snapshot: the
    ledger verification compares the shards' open legs with them. Any wallets' transfers, so
    admins and auditors only (checked here too: the gateway is not the only caller that could
    hold a service credential)."""
    if caller.role not in ("admin", "auditor"):
        raise Forbidden("Only admins and auditors look transfers up by id.")
    return TransferLookupAnswer(items=await look_up_transfers(ctx, body.transfer_ids))


@router.get("/integrity", response_model=CoordinatorIntegrityReport, responses=_PROBLEMS)
async def get_integrity(ctx: Coordinator) -> CoordinatorIntegrityReport:
    """The coordinator's part of the integrity report, without the shards' active legs."""
    return await _integrity(ctx, [])


async def _integrity(
    ctx: CoordinatorContext,
    active_leg_transfer_ids: list[str],
    cut: Cut | None = None,
    transfer_ids: list[str] | None = None,
) -> CoordinatorIntegrityReport:
    report = await check_sagas(
        ctx, active_leg_transfer_ids, cut=cut, transfer_ids=transfer_ids or []
    )
    return CoordinatorIntegrityReport(
        pending=report.pending,
        stuck=report.stuck,
        final_with_active_legs=report.final_with_active_legs,
        in_flight=report.in_flight,
        cut=IntegrityCut(
            recent_from=report.cut.recent_from, pending_before=report.cut.pending_before
        ),
        settled=dict(sorted(report.settled.items())),
        sagas=[
            SagaFacts(
                id=saga.id,
                status=saga.status.value,
                phase=saga.phase.value,
                amount=saga.amount,
                currency=saga.currency,
                source_shard=ctx.shards.shard_for_wallet(saga.source_wallet_id),
                destination_shard=ctx.shards.shard_for_wallet(saga.destination_wallet_id),
            )
            for saga in report.sagas
        ],
        late_pending=report.late_pending,
    )
