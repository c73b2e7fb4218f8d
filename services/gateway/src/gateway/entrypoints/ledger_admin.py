"""`/v1/admin/ledger`: the ledger's maintenance routes behind `wallet ledger verify|rebuild`."""

from __future__ import annotations

from fastapi import APIRouter
from wallet_shared.contracts.ledger_admin import LedgerVerification, RebuildPage, RebuildRequest
from wallet_shared.platform.http import FastJSONResponse

from gateway.entrypoints.dependencies import Gateway
from gateway.entrypoints.openapi import problem_responses
from gateway.service_layer.ledger_maintenance import rebuild_snapshots, verify_ledger

router = APIRouter(prefix="/v1/admin/ledger", tags=["admin"])


@router.get(
    "/verify",
    response_model=LedgerVerification,
    summary="Recompute every wallet's balance from the ledger, every frozen amount from the "
    "active holds, and check every open hold against its saga (admin, auditor)",
    description="Read-only and safe on a live system: each shard is read in one REPEATABLE READ "
    "snapshot. Each difference names its shard, wallet, transfer (for a leg), what was expected "
    "and what the shard has. At most 1000 differences per shard are listed (`truncated`).",
    responses=problem_responses(403),
)
async def verify(gw: Gateway) -> FastJSONResponse:
    report = await verify_ledger(gw.backends, gw.caller)
    return FastJSONResponse(report.model_dump(mode="json"))


@router.post(
    "/rebuild",
    response_model=RebuildPage,
    summary="Rebuild balance snapshots from the ledger: one wallet, or a page of a shard's "
    "wallets (admin)",
    description="Each wallet in a transaction of its own, under its row lock: `balance` becomes "
    "the sum of its entries, `frozen` and `incoming` zero. A wallet with an open hold or pending "
    "credit is `refused` (money in flight: only its saga may resolve it). Each change is in the "
    "audit log (`wallet.ledger_rebuild`). Page through a shard with `shard`, `after` "
    "(the previous page's `next_cursor`) and `limit`.",
    responses=problem_responses(403, 404, 422),
)
async def rebuild(body: RebuildRequest, gw: Gateway) -> FastJSONResponse:
    page = await rebuild_snapshots(gw.backends, gw.shards, gw.caller, body, gw.origin)
    return FastJSONResponse(page.model_dump(mode="json"))
