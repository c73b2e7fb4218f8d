"""What every service's FastAPI app has in common: problem errors, health, metrics, trace ids,
fast JSON, and the caller a service credential proves to internal routes."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, Literal

import orjson
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallet_shared.platform.http_client import CLIENT_KEEPALIVE_S
from wallet_shared.platform.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from wallet_shared.platform.problems import install_problem_handlers
from wallet_shared.platform.readiness import ReadinessCache, ReadinessCheck
from wallet_shared.platform.service_auth import (
    Caller,
    RequireServiceCredential,
    ServiceTokenVerifier,
    caller_of_scope,
)

__all__ = [
    "Caller",
    "FastJSONResponse",
    "ReadinessCache",
    "ReadinessCheck",
    "create_service_app",
    "internal_caller",
    "serve",
]


# FastAPI's own OpenTelemetry instrumentation, off: the services trace requests with X-Trace-Id
# and structlog and count them with prometheus-client, and configure no OpenTelemetry provider.
# Left on, FastAPI asked OpenTelemetry's global providers on every request whether one had been
# configured (3 % of the gateway's CPU under load, py-spy), and would start spans and exporters of
# its own the day a library or an environment variable configured one.
_NO_NATIVE_TELEMETRY: Final[TelemetryConfig] = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


class FastJSONResponse(JSONResponse):
    """JSON through orjson: faster, and datetimes come out as RFC 3339."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def internal_caller(request: Request) -> Caller:
    """The caller of an internal route, as its service credential proves them (checked by
    `RequireServiceCredential` before the route runs; 401 when the app has no such check)."""
    return caller_of_scope(request.scope)


class _ObserveRequests:
    """Trace id in, trace id out; one counter and one histogram sample per request.

    Plain ASGI rather than BaseHTTPMiddleware: it sits on every request of every service, and
    the latter costs an extra task and stream per request.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        trace_id = headers.get(b"x-trace-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append("X-Trace-Id", trace_id)
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(trace_id=trace_id):
            try:
                await self.app(scope, receive, send_with_trace)
            finally:
                # The router leaves the matched route in the scope: label by its template
                # (/v1/wallets/{wallet_id}), never by raw path, or ids explode cardinality.
                route = str(getattr(scope.get("route"), "path", "unmatched"))
                method = scope["method"]
                HTTP_REQUEST_DURATION.labels(self.service, route, method).observe(
                    time.perf_counter() - started
                )
                HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()


def create_service_app(
    *,
    service: str,
    title: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]
    | Callable[[FastAPI], AsyncIterator[None]],
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]],
    service_credentials: ServiceTokenVerifier | None,
    version: str = "1.0.0",
    description: str = "",
    inner_middleware: Sequence[Middleware] = (),
    readiness_cache: ReadinessCache | None = None,
) -> FastAPI:
    """A FastAPI app with problem errors, `/health/live`, `/health/ready`, `/metrics` and tracing.

    `service_credentials`: every route but health and metrics requires a service credential
    this verifier accepts (internal services); None only for an app that authenticates its
    callers itself (the gateway). There is no default, so that no internal app forgets it.
    `readiness(app)` returns the named checks of the app's dependencies (database, Kafka...);
    the app is ready only when every check answers True; `readiness_cache` may answer a recent
    round again (default: a round per request). `inner_middleware` runs inside the request
    observer, so that what it answers by itself (401, 429...) is traced and counted too.
    """
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,  # type: ignore[arg-type]
        default_response_class=FastJSONResponse,
        telemetry=_NO_NATIVE_TELEMETRY,
    )
    install_problem_handlers(app)
    if service_credentials is not None:
        # First of the inner middleware: nothing else sees a request that proves no caller.
        credential = Middleware(RequireServiceCredential, verifier=service_credentials)
        inner_middleware = [credential, *inner_middleware]
    # add_middleware wraps what is already there: the last one added is the outermost.
    for middleware in reversed(inner_middleware):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.add_middleware(_ObserveRequests, service=service)
    _add_health_routes(app, readiness, readiness_cache or ReadinessCache(ttl_s=0))
    return app


class Readiness(BaseModel):
    """The answer of `/health/ready`: 200 when every check is `ok`, 503 otherwise."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "down"]]


def _add_health_routes(
    app: FastAPI,
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]],
    cache: ReadinessCache,
) -> None:
    @app.get("/health/live", tags=["health"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["health"],
        summary="Every dependency answers",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is down"}},
    )
    async def ready(request: Request) -> Response:
        results = await cache.results(lambda: readiness(request.app))
        healthy = bool(results) and all(results.values())
        body = {
            "status": "ok" if healthy else "unavailable",
            "checks": {name: "ok" if ok else "down" for name, ok in results.items()},
        }
        return FastJSONResponse(body, status_code=200 if healthy else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# A server closes a connection idle this long; clients keep idle ones for CLIENT_KEEPALIVE_S, less.
# At uvicorn's default (5 s) the gateway reused connections its backends were closing: a
# request sent as the server's close crossed it came back as a 503 (seen under CI load, on the
# first request to a shard idle for a few seconds).
SERVER_IDLE_TIMEOUT_S: Final = int(CLIENT_KEEPALIVE_S) * 2


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run `app` until SIGINT/SIGTERM, the same way in every service.

    uvloop and httptools for speed; no access log (the request observer counts and traces every
    request) and no uvicorn logging config (structlog's applies); no `server` header.
    """
    freeze_after_startup(app)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=SERVER_IDLE_TIMEOUT_S,
    )


def freeze_after_startup(app: FastAPI) -> None:
    """Move what the process built to start (modules, the app, its pools and clients: ~110,000
    objects) out of the cyclic garbage collector's reach once the lifespan has started it.

    Those objects live as long as the process, yet every full collection walked them all: 60-160
    ms with the event loop stopped, every ~20 s under load, which every request in flight waited
    out (the balance reads' p99). Collections now walk only what was made since.
    """
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with started(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
