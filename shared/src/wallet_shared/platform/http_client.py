"""The HTTP clients components use to call one another: httpx's API on aiohttp's pool, and a
leaner client on aiohttp's pool alone for the gateway's calls to its backends.

httpx's own connection pool (httpcore) serialises badly under concurrency (encode/httpx#3215):
on this project's 2-core machines a trivial endpoint answered 250 requests/s through it with 64
in flight, and 3,400 requests/s through aiohttp's pool. The gateway calls a backend for every
request, so the client is on the hot path of everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, Self

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# How long a client keeps an idle connection for reuse. Below the servers' idle timeout
# (`http.SERVER_IDLE_TIMEOUT_S`), so that a server never closes a connection a client may be
# reusing at that very moment (the request would fail unanswered).
CLIENT_KEEPALIVE_S: Final = 30.0


def pooled_http_client(
    *,
    timeout_s: float,
    max_connections: int,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    keepalive_s: float = CLIENT_KEEPALIVE_S,
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


@dataclass(frozen=True, slots=True)
class InternalResponse:
    """A backend's answer, read whole."""

    status_code: int
    headers: Mapping[str, str]
    """Case-insensitive."""
    content: bytes


@dataclass(frozen=True, slots=True)
class InternalStream:
    """A backend's answer whose body is read as it arrives."""

    status_code: int
    headers: Mapping[str, str]
    """Case-insensitive."""
    chunks: AsyncIterator[bytes]


class InternalRequestError(Exception):
    """The backend gave no answer: refused or lost connection, timeout."""


class InternalHttpClient:
    """Requests from one component to another, on aiohttp's pool without httpx's layer.

    The gateway sends one such request for every request it serves; httpx's request and
    response models around aiohttp cost it about a fifth of its CPU. `transport` (tests) sends
    through an httpx transport instead. Redirects are never followed.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        max_connections: int,
        keepalive_s: float = CLIENT_KEEPALIVE_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._transport = transport
        self._session: aiohttp.ClientSession | None = None
        self._httpx: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        if self._transport is not None:
            self._httpx = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._timeout_s),
                follow_redirects=False,
            )
        else:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_s
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                trust_env=False,
            )
        return self

    async def __aexit__(self, *_: object) -> None:
        session, self._session = self._session, None
        client, self._httpx = self._httpx, None
        if session is not None:
            await session.close()
        if client is not None:
            await client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> InternalResponse:
        """Send a request and read the whole answer; `InternalRequestError` when none comes."""
        timeout = self._timeout_s if timeout_s is None else timeout_s
        if self._httpx is not None:
            return await _through_httpx(self._httpx, method, url, params, content, headers, timeout)
        if self._session is None:
            raise RuntimeError("InternalHttpClient used outside `async with`")
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=content,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return InternalResponse(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise InternalRequestError(type(error).__name__) from error

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout_s: float | None = None,
    ) -> AsyncIterator[InternalStream]:
        """Send a request and read the answer's body chunk by chunk, however long it takes as
        long as each chunk comes within `read_timeout_s`; `InternalRequestError` when no answer
        comes. The connection goes back to the pool when the block ends."""
        timeout = self._timeout_s if read_timeout_s is None else read_timeout_s
        if self._httpx is not None:
            async with _stream_through_httpx(
                self._httpx, method, url, params, headers, timeout
            ) as answer:
                yield answer
            return
        if self._session is None:
            raise RuntimeError("InternalHttpClient used outside `async with`")
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
                allow_redirects=False,
            ) as response:
                chunks = _aiohttp_chunks(response)
                yield InternalStream(response.status, response.headers, chunks)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise InternalRequestError(type(error).__name__) from error


async def _aiohttp_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_any():
        yield chunk


@asynccontextmanager
async def _stream_through_httpx(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    params: Mapping[str, str | int] | None,
    headers: Mapping[str, str] | None,
    timeout_s: float,
) -> AsyncIterator[InternalStream]:
    try:
        async with client.stream(
            method, url, params=params, headers=headers, timeout=timeout_s
        ) as response:
            yield InternalStream(response.status_code, response.headers, response.aiter_raw())
    except httpx.RequestError as error:
        raise InternalRequestError(type(error).__name__) from error


async def _through_httpx(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    params: Mapping[str, str | int] | None,
    content: bytes | None,
    headers: Mapping[str, str] | None,
    timeout_s: float,
) -> InternalResponse:
    try:
        response = await client.request(
            method, url, params=params, content=content, headers=headers, timeout=timeout_s
        )
    except httpx.RequestError as error:
        raise InternalRequestError(type(error).__name__) from error
    return InternalResponse(response.status_code, response.headers, response.content)
