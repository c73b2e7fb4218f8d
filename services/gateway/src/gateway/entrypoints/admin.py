"""`/v1/admin`: operations for admins and auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from wallet_shared.contracts.pagination import DEFAULT_LIMIT
from wallet_shared.contracts.schemas import DeadLetter, DeadLetterPage, IntegrityReport
from wallet_shared.platform.http import FastJSONResponse

from gateway.entrypoints.dependencies import Gateway
from gateway.entrypoints.gateway_audit import record_gateway_action
from gateway.entrypoints.openapi import problem_responses
from gateway.entrypoints.wallets import Cursor, Limit
from gateway.service_layer import dead_letters
from gateway.service_layer.integrity import check_integrity

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get(
    "/integrity",
    response_model=IntegrityReport,
    summary="Check that, per currency, wallets plus money in flight equal what came in minus "
    "what went out, on every shard (admin, auditor)",
    responses=problem_responses(403),
)
async def integrity(gw: Gateway, request: Request) -> FastJSONResponse:
    report = await check_integrity(gw.backends, gw.caller)
    record_gateway_action(request.scope, "integrity.run", target="integrity")
    return FastJSONResponse(report.model_dump(mode="json"))


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    summary="Messages a consumer could not handle, on every shard and the coordinator, newest "
    "first (admin)",
    description="Each has its error, attempt count, origin (topic, partition, offset), headers "
    "and original value (UTF-8 text, or base64 when `value_encoding` says so). The cursor is "
    "the position of the last item, stable while new dead letters arrive.",
    responses=problem_responses(403, 422),
)
async def list_dead_letters(
    gw: Gateway,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> FastJSONResponse:
    page = await dead_letters.list_dead_letters(gw.backends, gw.caller, limit=limit, cursor=cursor)
    return FastJSONResponse(page.model_dump(mode="json"))


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    response_model=DeadLetter,
    summary="Publish a dead letter again to its original topic (admin)",
    description="Answers the dead letter with `replayed_at` set. A dead letter is replayed once: "
    "a second replay answers 409 `conflict`. A replayed message that fails again becomes a new "
    "dead letter (header `replayed_dead_letter`), which can be replayed in turn.",
    responses=problem_responses(403, 404, 409),
)
async def replay_dead_letter(
    dead_letter_id: Annotated[str, Path(description="A dead letter id (opaque).")], gw: Gateway
) -> FastJSONResponse:
    letter = await dead_letters.replay_dead_letter(gw.backends, gw.caller, dead_letter_id)
    return FastJSONResponse(letter.model_dump(mode="json"))
