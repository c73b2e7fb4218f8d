"""Internal routes of `wallet ledger verify|rebuild` (docs/internals.md). The gateway checks the
role first; the shard checks it again, since a rebuild writes balances."""

from __future__ import annotations

from fastapi import APIRouter
from wallet_shared.contracts.errors import Forbidden
from wallet_shared.contracts.ledger_admin import (
    RebuildPage,
    RebuildRequest,
    ShardLedgerVerification,
)
from wallet_shared.contracts.schemas import ProblemDetail

from wallet_shard.entrypoints.dependencies import Services
from wallet_shard.entrypoints.request_context import CallerDep, OriginDep
from wallet_shard.service_layer.ledger_maintenance import rebuild_wallets, verify_ledger

router = APIRouter(
    prefix="/internal/ledger",
    tags=["internal"],
    responses={403: {"model": ProblemDetail, "description": "Not an admin (or auditor)"}},
)


@router.get("/verify", response_model=ShardLedgerVerification)
async def verify(caller: CallerDep, services: Services) -> ShardLedgerVerification:
    """Every wallet's balance, frozen and incoming recomputed from its rows, and the open legs,
    from one read-only snapshot."""
    if caller.role not in ("admin", "auditor"):
        raise Forbidden("Only admins and auditors verify the ledger.")
    return await verify_ledger(services.uow, services.shard)


@router.post("/rebuild", response_model=RebuildPage)
async def rebuild(
    body: RebuildRequest, caller: CallerDep, origin: OriginDep, services: Services
) -> RebuildPage:
    """Rebuild one wallet's snapshot, or the next page of wallets, each under its lock."""
    if caller.role != "admin":
        raise Forbidden("Only admins rebuild balance snapshots.")
    return await rebuild_wallets(
        services.uow,
        services.shard,
        origin,
        wallet_id=body.wallet_id,
        after=body.after,
        limit=body.limit,
    )
