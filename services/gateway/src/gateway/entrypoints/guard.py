"""What every /v1 request passes before any route sees it: authentication, the caller's token
bucket, and the body size limit. `/health/ready`, which asks every backend, takes a token from
its caller's address bucket too, so that it cannot be used to load the backends.

A middleware rather than a dependency, so the order holds whatever the route: a caller over their
limit or without a valid token is refused before their body is read or parsed.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wallet_shared.platform.problems import problem_response

from gateway.adapters.tokens import InvalidToken, TokenVerifier
from gateway.domain.principal import Principal
from gateway.domain.rate_limit import TokenBucketLimiter
from gateway.entrypoints.responses import token_problem
from gateway.metrics import AUTH_FAILURES, RATE_LIMITED

GUARDED_PREFIX: Final = "/v1"
RATE_LIMITED_PROBE: Final = "/health/ready"
MAX_BODY_BYTES: Final = 64 * 1024
PRINCIPAL_STATE_KEY: Final = "principal"


class ApiGuard:
    """ASGI middleware for the public API routes (liveness, metrics and docs pass untouched;
    readiness passes the rate limit only)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        limiter: TokenBucketLimiter,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == RATE_LIMITED_PROBE:
            await self._probe(scope, receive, send)
            return
        if scope["type"] != "http" or not _is_guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal: Principal | None = None
        rejection: InvalidToken | None = None
        try:
            principal = self.verifier.authenticate(headers.get("authorization"))
        except InvalidToken as error:
            rejection = error
        retry_after = self.limiter.acquire(_bucket_key(scope, principal))
        if retry_after is not None:
            RATE_LIMITED.inc()
            await _refuse_rate_limited(retry_after, scope, receive, send)
            return
        if rejection is not None or principal is None:
            AUTH_FAILURES.inc()
            await _refuse_unauthenticated(rejection, scope, receive, send)
            return
        body_receive = await self._bounded_body(headers, receive)
        if body_receive is None:
            await _refuse_too_large(self.max_body_bytes, scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, body_receive, send)

    async def _probe(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Probes carry no token: their bucket is their address's, as an anonymous request's.
        retry_after = self.limiter.acquire(_bucket_key(scope, None))
        if retry_after is not None:
            RATE_LIMITED.inc()
            await _refuse_rate_limited(retry_after, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _bounded_body(self, headers: Headers, receive: Receive) -> Receive | None:
        """`receive` for the app, or None when the body is over the limit."""
        declared = headers.get("content-length")
        if declared is not None:
            # The server enforces the declared length, so checking it is enough.
            too_large = declared.strip().isdigit() and int(declared) > self.max_body_bytes
            return None if too_large else receive
        if "transfer-encoding" not in headers:
            return receive
        # A chunked body tells its size only at the end: read it (at most the limit), then
        # hand the same messages to the app.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay


def _is_guarded(path: str) -> bool:
    return path == GUARDED_PREFIX or path.startswith(GUARDED_PREFIX + "/")


def _bucket_key(scope: Scope, principal: Principal | None) -> str:
    # Only a verified subject names a bucket: an unverified one would let anyone drain another
    # user's bucket.
    if principal is not None:
        return f"sub:{principal.user_id}"
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


async def _refuse_rate_limited(
    retry_after: int, scope: Scope, receive: Receive, send: Send
) -> None:
    response = problem_response(
        "rate_limited",
        f"Too many requests; retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )
    await response(scope, receive, send)


async def _refuse_unauthenticated(
    rejection: InvalidToken | None, scope: Scope, receive: Receive, send: Send
) -> None:
    error = rejection or InvalidToken("Authentication required.", missing=True)
    await token_problem(error)(scope, receive, send)


async def _refuse_too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        "payload_too_large", f"The request body must be at most {limit} bytes."
    )
    await response(scope, receive, send)
