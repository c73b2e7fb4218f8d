"""Sending one webhook delivery over HTTP: the address check (again at every attempt, since DNS
can change), the signed POST, and a hard time limit on the whole exchange."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import httpx
from wallet_shared.errors import ValidationFailed

from transfer_coordinator.domain.webhooks import (
    IpAddress,
    all_allowed,
    endpoint_of,
    literal_address,
    signature,
)

_USER_AGENT: Final = "wallet-webhooks/1"
_MAX_CONNECTIONS: Final = 256

Resolver = Callable[[str, int], Awaitable[list[IpAddress]]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: `outcome` is `ok`, `http_error`, `timeout`,
    `refused_address` or `error`."""

    outcome: str
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "ok"


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to (a literal address is itself)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = {literal_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    return [address for address in found if address is not None]


class WebhookSender:
    """POSTs signed events; one pooled client for every endpoint, never following redirects
    (a redirect could lead to an address the check refused)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        allow_private: bool,
        resolver: Resolver = resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=_MAX_CONNECTIONS),
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, *, url: str, secret: str, event_id: str, event_type: str, body: bytes
    ) -> Attempt:
        """One attempt; never raises for what the receiver or the network did."""
        try:
            refusal = await self._refusal(url)
            if refusal is not None:
                return Attempt("refused_address", error=refusal)
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.post(
                    url, content=body, headers=self._headers(secret, event_id, event_type, body)
                )
        except TimeoutError:
            return Attempt("timeout", error="no answer in time")
        except (httpx.HTTPError, OSError) as error:
            return Attempt("error", error=type(error).__name__)
        if 200 <= response.status_code < 300:
            return Attempt("ok", status_code=response.status_code)
        return Attempt("http_error", status_code=response.status_code, error="not 2xx")

    async def _refusal(self, url: str) -> str | None:
        try:
            endpoint = endpoint_of(url, allow_private=self._allow_private)
            addresses = await self._resolver(endpoint.host, endpoint.port)
        except ValidationFailed:
            return "URL not allowed"
        except OSError:
            return "host does not resolve"
        if not all_allowed(addresses, allow_private=self._allow_private):
            return "host resolves to a non-public address"
        return None

    @staticmethod
    def _headers(secret: str, event_id: str, event_type: str, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            "X-Wallet-Event-Id": event_id,
            "X-Wallet-Event-Type": event_type,
            "X-Wallet-Signature": signature(secret, body, timestamp=int(time.time())),
        }
