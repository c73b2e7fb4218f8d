"""What every money-moving route reads from its request besides the body: the Idempotency-Key
(bound to the request's fingerprint) and who asked, from where (for the audit record)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from wallet_shared.contracts.rules import checked_key
from wallet_shared.platform.http import Caller, internal_caller
from wallet_shared.platform.idempotency import request_fingerprint

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.service_layer.commands import IdempotentRequest

MAX_CLIENT_ADDRESS: Final = 100
MAX_USER_AGENT: Final = 500

CallerDep = Annotated[Caller, Depends(internal_caller)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


async def movement_origin(
    caller: CallerDep,
    x_client_address: Annotated[str | None, Header()] = None,
    x_client_user_agent: Annotated[str | None, Header()] = None,
) -> MovementRequest:
    """The caller and the client the gateway saw (`X-Client-Address`, `X-Client-User-Agent`)."""
    return MovementRequest(
        actor=caller.user_id,
        actor_role=caller.role,
        client_address=_bounded(x_client_address, MAX_CLIENT_ADDRESS),
        user_agent=_bounded(x_client_user_agent, MAX_USER_AGENT),
    )


OriginDep = Annotated[MovementRequest, Depends(movement_origin)]


def idempotent_request(
    request: Request, caller: Caller, key: str | None, body: BaseModel
) -> IdempotentRequest:
    """The Idempotency-Key of a money-moving request, bound to the request's fingerprint."""
    key = checked_key(key)
    fingerprint = request_fingerprint("POST", request.url.path, body.model_dump(mode="json"))
    return IdempotentRequest(caller=caller.user_id, key=key, fingerprint=fingerprint)


def _bounded(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    # Text columns take neither NUL nor unbounded lengths; the audit keeps what is readable.
    return value.replace("\x00", "")[:limit] or None
