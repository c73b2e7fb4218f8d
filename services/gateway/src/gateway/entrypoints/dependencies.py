"""What routes receive through `Depends`: the caller, the backends, the shard router, the known
wallets, settings.

All `async def`, though none awaits: FastAPI runs plain `def` dependencies in a thread pool, a
thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from wallet_shared.contracts.errors import ServiceUnavailable

from gateway.adapters.backends import Backends, ClientOrigin
from gateway.adapters.tokens import InvalidToken
from gateway.domain.known_wallets import KnownWallets
from gateway.domain.principal import Principal
from gateway.domain.routing import ShardRouter
from gateway.entrypoints.guard import PRINCIPAL_STATE_KEY
from gateway.settings import GatewaySettings


async def current_caller(request: Request) -> Principal:
    """The caller the guard authenticated."""
    principal = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if not isinstance(principal, Principal):  # only when a /v1 route escaped the guard
        raise InvalidToken("Authentication required.", missing=True)
    return principal


async def backends(request: Request) -> Backends:
    """The backends opened in the app's lifespan."""
    opened = getattr(request.app.state, "backends", None)
    if not isinstance(opened, Backends):
        raise ServiceUnavailable("The gateway is starting or stopping.")
    return opened


async def client_origin(request: Request) -> ClientOrigin:
    """The client's address and user agent, kept by the shard with each money movement."""
    client = request.client
    return ClientOrigin(
        address=client.host if client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency on what `bootstrap.create_app` put in `app.state.<name>`."""

    async def from_app_state(request: Request) -> Any:
        return getattr(request.app.state, name)

    return from_app_state


CallerDep = Annotated[Principal, Depends(current_caller)]
BackendsDep = Annotated[Backends, Depends(backends)]
ShardRouterDep = Annotated[ShardRouter, Depends(_app_state("shard_router"))]
KnownWalletsDep = Annotated[KnownWallets, Depends(_app_state("known_wallets"))]
SettingsDep = Annotated[GatewaySettings, Depends(_app_state("settings"))]
OriginDep = Annotated[ClientOrigin, Depends(client_origin)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required: 1-255 printable characters, scoped to the caller. "
        "A repeat with the same key and body replays the first answer.",
    ),
]
PreferHeader = Annotated[
    str | None,
    Header(
        alias="Prefer",
        description="`wait=N` (N ≤ 30): wait up to N seconds for a final status.",
    ),
]
