"""The HTTP client every component uses to call another: httpx's API on aiohttp's pool.

httpx's own connection pool (httpcore) serialises badly under concurrency (encode/httpx#3215):
on this project's 2-core machines a trivial endpoint answered 250 requests/s through it with 64
in flight, and 3,400 requests/s through aiohttp's pool. The gateway calls a backend for every
request, so the client is on the hot path of everything.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from httpx_aiohttp import AiohttpTransport


def pooled_http_client(
    *,
    timeout_s: float,
    max_connections: int,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    keepalive_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` over aiohttp's connection pool (or over `transport`, for tests).

    Redirects are never followed: internal services do not redirect, and a client of the public
    API should see what it was answered.
    """
    limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=keepalive_s)
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout_s),
        transport=transport or AiohttpTransport(limits=limits, trust_env=False),
        follow_redirects=False,
    )
