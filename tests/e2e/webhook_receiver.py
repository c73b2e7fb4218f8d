"""A real HTTP receiver of webhooks for the end-to-end tests, on 127.0.0.1: it checks every
signature (API.md: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), can refuse its first
answers, or never answer at all, and dedupes on the event id as receivers must."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web


class WebhookReceiver:
    """Counts requests, keeps each event once (by `X-Wallet-Event-Id`), notes bad signatures."""

    def __init__(
        self, *, fail_first: int = 0, never_answer: bool = False, answer_after_s: float = 0.0
    ) -> None:
        self.secret: str | None = None
        self.requests = 0
        self.events: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.bad_signatures: list[str] = []
        self._fail_first = fail_first
        self._never_answer = never_answer
        self._answer_after_s = answer_after_s
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self._never_answer:
            await asyncio.Event().wait()  # until the server shuts down
        await asyncio.sleep(self._answer_after_s)  # a slow receiver: deliveries stay in flight
        body = await request.read()
        self._check_signature(request.headers.get("X-Wallet-Signature", ""), body)
        if self.requests <= self._fail_first:
            return web.Response(status=503)
        event_id = request.headers["X-Wallet-Event-Id"]
        event = orjson.loads(body)
        assert event["event_id"] == event_id
        assert event["event_type"] == request.headers["X-Wallet-Event-Type"]
        if event_id in self.events:
            self.duplicates += 1  # at least once: seen before, acknowledged, not processed again
        else:
            self.events[event_id] = event
        return web.Response(status=204)

    def _check_signature(self, header: str, body: bytes) -> None:
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        assert self.secret is not None, "the test sets the secret once it is registered"
        signed = f"{parts.get('t', '')}.".encode() + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(parts.get("t", "0"))) < 300
        if not (fresh and hmac.compare_digest(expected, parts.get("v1", ""))):
            self.bad_signatures.append(header)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The events received (once each) that satisfy `predicate`."""
        return [event for event in self.events.values() if predicate(event)]


async def eventually(condition: Callable[[], Any], *, what: str, timeout_s: float = 60.0) -> None:
    """Wait until `condition()` (sync or async) is true; fail after a generous `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.1)
