"""What the routes read from a request besides its body and path: who asked, from where (for
the audit record), the shard's services (`ShardCall`, one dependency), and the Idempotency-Key
bound to the request's fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from wallet_shared.contracts.rules import checked_key
from wallet_shared.platform.http import Caller
from wallet_shared.platform.idempotency import request_fingerprint
from wallet_shared.platform.service_auth import caller_of_scope

from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.entrypoints.dependencies import ShardServices
from wallet_shard.service_layer.commands import IdempotentRequest

MAX_CLIENT_ADDRESS: Final = 100
MAX_USER_AGENT: Final = 500

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@dataclass(frozen=True, slots=True)
class ShardRequest:
    """The shard's services, the caller the service credential proves, and the client the gateway
    saw (`X-Client-Address`, `X-Client-User-Agent`), as the movement's origin.

    One dependency rather than one each: FastAPI solves every dependency of a route anew on every
    request, about 20 us apiece, and the money routes had three (four with the origin's own).
    """

    services: ShardServices
    caller: Caller
    origin: MovementRequest


async def shard_request(request: Request) -> ShardRequest:
    """401 when no service credential was proved (an app without the check fails closed)."""
    caller = caller_of_scope(request.scope)
    headers = request.headers
    return ShardRequest(
        services=request.app.state.shard_services,
        caller=caller,
        origin=MovementRequest(
            actor=caller.user_id,
            actor_role=caller.role,
            client_address=_bounded(headers.get("x-client-address"), MAX_CLIENT_ADDRESS),
            user_agent=_bounded(headers.get("x-client-user-agent"), MAX_USER_AGENT),
        ),
    )


ShardCall = Annotated[ShardRequest, Depends(shard_request)]


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
