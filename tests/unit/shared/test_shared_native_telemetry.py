"""The services' apps leave FastAPI's own OpenTelemetry instrumentation off: they trace with
X-Trace-Id and count with prometheus-client, and a request costs no question to OpenTelemetry."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import _logs, metrics, trace
from wallet_shared.platform.http import create_service_app


@asynccontextmanager
async def _nothing_to_open(_: FastAPI) -> AsyncIterator[None]:
    yield


def _counting(asked: Counter[str], name: str, original: Callable[[], Any]) -> Callable[[], Any]:
    def provider() -> Any:
        asked[name] += 1
        return original()

    return provider


async def test_a_request_never_asks_opentelemetry_for_its_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: Counter[str] = Counter()
    for module, name in (
        (trace, "get_tracer_provider"),
        (metrics, "get_meter_provider"),
        (_logs, "get_logger_provider"),
    ):
        monkeypatch.setattr(module, name, _counting(asked, name, getattr(module, name)))
    app = create_service_app(
        service="test",
        title="test",
        lifespan=_nothing_to_open,
        readiness=lambda _: {},
        service_credentials=None,
    )

    @app.get("/echo")
    async def echo() -> dict[str, str]:
        return {"status": "ok"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(3):
            answer = await client.get("/echo", headers={"X-Trace-Id": "abc"})
            assert answer.status_code == 200
            assert answer.headers["X-Trace-Id"] == "abc"

    assert asked == Counter()
