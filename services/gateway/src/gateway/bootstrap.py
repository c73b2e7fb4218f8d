"""Wires the gateway: token verifier, rate limiter, service credentials, shard router, backends,
routers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Final

import httpx
import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware
from wallet_shared.platform.http import ReadinessCache, ReadinessCheck, create_service_app
from wallet_shared.platform.http_client import InternalHttpClient
from wallet_shared.platform.loops import loop_checks
from wallet_shared.platform.service_auth import ServiceTokenIssuer

from gateway.adapters.audit_shipper import AuditShipper
from gateway.adapters.backends import Backends
from gateway.adapters.tokens import TokenVerifier
from gateway.domain.known_wallets import KnownWallets
from gateway.domain.rate_limit import TokenBucketLimiter
from gateway.domain.routing import ShardRouter
from gateway.entrypoints import admin, ledger, ledger_admin, oversight, transfers, wallets
from gateway.entrypoints.gateway_audit import RefusalAudit
from gateway.entrypoints.guard import ApiGuard
from gateway.entrypoints.openapi import install_openapi
from gateway.entrypoints.responses import install_gateway_problem_handlers
from gateway.settings import GatewaySettings

SERVICE: Final = "gateway"
_log = structlog.get_logger(__name__)
# Sized for many concurrent transfers waiting on `Prefer: wait` while others flow.
MAX_BACKEND_CONNECTIONS: Final = 1024
# Its readiness asks every backend: within this many seconds a probe gets the last answer.
READINESS_TTL_S: Final = 1.0

_DESCRIPTION: Final = (
    "Public REST API of the wallet system. Every /v1 route needs `Authorization: Bearer <JWT>`; "
    "errors are `application/problem+json` with a stable `code`; amounts are integers in minor "
    "units, answered as strings of digits."
)


def token_verifier(settings: GatewaySettings) -> TokenVerifier:
    """The verifier of the configured key (`TokenKeyError` when none is usable)."""
    return TokenVerifier.create(
        secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        public_key_pem=settings.jwt_public_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def create_app(
    settings: GatewaySettings,
    *,
    backend_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The gateway app. `backend_transport`, `clock` (rate limits, readiness cache) and
    `wall_clock` (service credentials' times) let tests stand in for the network and for time."""
    verifier = token_verifier(settings)
    limiter = TokenBucketLimiter(
        rate_per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst, clock=clock
    )
    credentials = ServiceTokenIssuer(
        secret=settings.internal_secret, service=SERVICE, clock=wall_clock
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _backend_client(settings, backend_transport) as client:
            app.state.backends = Backends(
                client=client,
                credentials=credentials,
                shard_urls=settings.shard_url_list(),
                coordinator_url=settings.coordinator_base_url(),
                timeout_s=settings.backend_timeout_s,
                maintenance_timeout_s=settings.ledger_maintenance_timeout_s,
            )
            # Refused requests and integrity runs are audited through it (never waited for).
            app.state.audit_shipper = AuditShipper(backends=app.state.backends)
            await app.state.audit_shipper.start()
            _log.info("gateway_started", shards=settings.shard_count, auth=verifier.algorithm)
            try:
                yield
            finally:
                await app.state.audit_shipper.stop()
                del app.state.audit_shipper, app.state.backends
                _log.info("gateway_stopped")

    app = create_service_app(
        service=SERVICE,
        title="Wallet API",
        description=_DESCRIPTION,
        lifespan=lifespan,
        readiness=_readiness,
        service_credentials=None,  # the public API: ApiGuard authenticates its callers
        inner_middleware=[
            Middleware(RefusalAudit),
            Middleware(ApiGuard, verifier=verifier, limiter=limiter),
        ],
        readiness_cache=ReadinessCache(ttl_s=READINESS_TTL_S, clock=clock),
    )
    app.state.settings = settings
    app.state.shard_router = ShardRouter(settings.shards())
    app.state.known_wallets = KnownWallets()
    install_gateway_problem_handlers(app)
    routers = (wallets, ledger, transfers, admin, ledger_admin, oversight)
    for module in routers:
        app.include_router(module.router)
    install_openapi(app)
    return app


def _backend_client(
    settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None
) -> InternalHttpClient:
    return InternalHttpClient(
        timeout_s=settings.backend_timeout_s,
        max_connections=MAX_BACKEND_CONNECTIONS,
        transport=transport,
    )


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    backends = getattr(app.state, "backends", None)
    shipper = getattr(app.state, "audit_shipper", None)
    # No backends (before the lifespan opened them): no checks, which reads as "not ready".
    if not isinstance(backends, Backends) or not isinstance(shipper, AuditShipper):
        return {}
    return {**backends.readiness_checks(), **loop_checks([shipper])}
