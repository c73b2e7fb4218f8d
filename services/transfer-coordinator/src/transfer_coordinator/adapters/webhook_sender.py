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
from wallet_shared.contracts.errors import ValidationFailed

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
    """What one attempt came to: `outcome` is one of `OUTCOMES`."""

    outcome: str
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "ok"


OUTCOMES: Final = ("ok", "http_error", "timeout", "refused_address", "error")
"""Every outcome an attempt can have."""


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
        """One attempt; never raises for what the receiver or the network did. The address
        check, the connection and the answer's status all fit in the time limit; the answer's
        body is never read (a receiver cannot make the coordinator hold what it sends)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                checked = await self._checked(url)
                if isinstance(checked, str):
                    return Attempt("refused_address", error=checked)
                request = self._pinned_request(url, checked, body)
                request.headers.update(self._headers(secret, event_id, event_type, body))
                response = await self._client.send(request, stream=True)
                await response.aclose()
        except TimeoutError:
            return Attempt("timeout", error="no answer in time")
        except (httpx.HTTPError, OSError) as error:
            return Attempt("error", error=type(error).__name__)
        if 200 <= response.status_code < 300:
            return Attempt("ok", status_code=response.status_code)
        return Attempt("http_error", status_code=response.status_code, error="not 2xx")

    async def _checked(self, url: str) -> IpAddress | str:
        """The address to connect to (one the check allowed), or why none may be used."""
        try:
            endpoint = endpoint_of(url, allow_private=self._allow_private)
            addresses = await self._resolver(endpoint.host, endpoint.port)
        except ValidationFailed:
            return "URL not allowed"
        except OSError:
            return "host does not resolve"
        if not all_allowed(addresses, allow_private=self._allow_private):
            return "host resolves to a non-public address"
        return sorted(addresses, key=str)[0]

    def _pinned_request(self, url: str, address: IpAddress, body: bytes) -> httpx.Request:
        """A POST to `url` that connects to `address` itself, not to what the name resolves to
        when the connection opens (DNS rebinding): the URL names the address, the Host header
        and the TLS server name (certificate check included) the original host."""
        original = httpx.URL(url)
        request = self._client.build_request(
            "POST", original.copy_with(host=str(address)), content=body
        )
        request.headers["Host"] = original.netloc.decode("ascii")
        if original.scheme == "https":
            request.extensions["sni_hostname"] = original.host
        return request

    @staticmethod
    def _headers(secret: str, event_id: str, event_type: str, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            "X-Wallet-Event-Id": event_id,
            "X-Wallet-Event-Type": event_type,
            "X-Wallet-Signature": signature(secret, body, timestamp=int(time.time())),
        }
