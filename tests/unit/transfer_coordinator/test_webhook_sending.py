"""The URL check at registration and each attempt of the sender, with a fake resolver and a
fake transport (no network)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Coroutine

import httpx
import pytest
from transfer_coordinator.adapters.webhook_sender import Attempt, Resolver, WebhookSender
from transfer_coordinator.domain.webhooks import IpAddress
from transfer_coordinator.service_layer.webhooks import check_webhook_url
from wallet_shared.contracts.errors import ValidationFailed

PUBLIC = ipaddress.ip_address("93.184.216.34")
PRIVATE = ipaddress.ip_address("10.0.0.7")
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


def resolver(*addresses: IpAddress, fails: bool = False) -> Resolver:
    async def resolve(host: str, port: int) -> list[IpAddress]:
        if fails:
            raise OSError("no such host")
        return list(addresses)

    return resolve


async def test_registration_needs_https_and_public_addresses() -> None:
    url = "https://hooks.example.com/x"
    await check_webhook_url(url, allow_private=False, resolve=resolver(PUBLIC))
    for refused in (resolver(PRIVATE), resolver(PUBLIC, PRIVATE), resolver(fails=True)):
        with pytest.raises(ValidationFailed):
            await check_webhook_url(url, allow_private=False, resolve=refused)
    with pytest.raises(ValidationFailed):
        await check_webhook_url(
            "http://hooks.example.com/x", allow_private=False, resolve=resolver(PUBLIC)
        )
    loopback = ipaddress.ip_address("127.0.0.1")
    await check_webhook_url("http://127.0.0.1:9/x", allow_private=True, resolve=resolver(loopback))
    with pytest.raises(ValidationFailed):  # local runs admit loopback receivers, nothing else
        await check_webhook_url(
            "http://hooks.internal/x", allow_private=True, resolve=resolver(PRIVATE)
        )


def sender(handler: Handler, *addresses: IpAddress, timeout_s: float = 5.0) -> WebhookSender:
    return WebhookSender(
        timeout_s=timeout_s,
        allow_private=False,
        resolver=resolver(*addresses),
        transport=httpx.MockTransport(handler),
    )


async def send(webhooks: WebhookSender) -> Attempt:
    try:
        return await webhooks.send(
            url="https://hooks.example.com/x", secret="s3cret", event_id="e1",
            event_type="transfer.completed", body=b'{"event_id": "e1"}',
        )  # fmt: skip
    finally:
        await webhooks.close()


async def test_a_signed_post_is_delivered_on_2xx_only() -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    attempt = await send(sender(ok, PUBLIC))
    assert attempt.outcome == "ok"
    [request] = seen
    assert request.headers["X-Wallet-Event-Id"] == "e1"
    assert request.headers["X-Wallet-Event-Type"] == "transfer.completed"
    parts = dict(p.split("=", 1) for p in request.headers["X-Wallet-Signature"].split(","))
    signed = f"{parts['t']}.".encode() + request.content
    assert parts["v1"] == hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    # Connected to the address the check allowed, named in the URL; the host stays the receiver's
    # for the Host header and the TLS server name (DNS cannot change between check and connect).
    assert request.url.host == str(PUBLIC)
    assert request.headers["Host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    refused = await send(sender(lambda _: httpx.Response(302), PUBLIC))
    assert (refused.outcome, refused.status_code) == ("http_error", 302)


async def test_a_private_address_is_never_called_and_a_slow_one_times_out() -> None:
    called: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(200)

    attempt = await send(sender(record, PRIVATE))
    assert attempt.outcome == "refused_address"
    assert called == []

    async def never(_: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    slow = await send(sender(never, PUBLIC, timeout_s=0.05))
    assert slow.outcome == "timeout"
