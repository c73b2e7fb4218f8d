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

from wallet_shard.entrypoints.request_context import ShardCall
from wallet_shard.service_layer.ledger_maintenance import rebuild_wallets, verify_ledger

router = APIRouter(
    prefix="/internal/ledger",
    tags=["internal"],
    responses={403: {"model": ProblemDetail, "description": "Not an admin (or auditor)"}},
)


@router.get("/verify", response_model=ShardLedgerVerification)
async def verify(call: ShardCall) -> ShardLedgerVerification:
    """Every wallet's balance, frozen and incoming recomputed from its rows, and the open legs,
    from one read-only snapshot."""
    if call.caller.role not in ("admin", "auditor"):
        raise Forbidden("Only admins and auditors verify the ledger.")
    return await verify_ledger(call.services.uow, call.services.shard)


@router.post("/rebuild", response_model=RebuildPage)
async def rebuild(body: RebuildRequest, call: ShardCall) -> RebuildPage:
    """Rebuild one wallet's snapshot, or the next page of wallets, each under its lock."""
    if call.caller.role != "admin":
        raise Forbidden("Only admins rebuild balance snapshots.")
    return await rebuild_wallets(
        call.services.uow,
        call.services.shard,
        call.origin,
        wallet_id=body.wallet_id,
        after=body.after,
        limit=body.limit,
    )
