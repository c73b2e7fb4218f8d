"""`/v1/admin`: operations for admins and auditors."""

from __future__ import annotations

from fastapi import APIRouter
from wallet_shared.http import FastJSONResponse
from wallet_shared.schemas import IntegrityReport

from gateway.entrypoints.dependencies import BackendsDep, CallerDep
from gateway.entrypoints.openapi import problem_responses
from gateway.service_layer.integrity import check_integrity

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get(
    "/integrity",
    response_model=IntegrityReport,
    summary="Check that, per currency, wallets plus money in flight equal what came in minus "
    "what went out, on every shard (admin, auditor)",
    responses=problem_responses(403),
)
async def integrity(caller: CallerDep, backends: BackendsDep) -> FastJSONResponse:
    report = await check_integrity(backends, caller)
    return FastJSONResponse(report.model_dump(mode="json"))
