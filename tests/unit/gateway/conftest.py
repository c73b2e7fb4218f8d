"""Gateway apps wired to fake backends, driven in process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway.bootstrap import create_app
from gateway.settings import GatewaySettings

from .gateway_fakes import FakeClock, FakeCluster, make_settings


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster(shard_count=2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(cluster: FakeCluster) -> GatewaySettings:
    return make_settings(cluster)


@pytest.fixture
def app(settings: GatewaySettings, cluster: FakeCluster, clock: FakeClock) -> FastAPI:
    return create_app(settings, backend_transport=cluster.transport(), clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as http,
    ):
        yield http


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    """The gateway's OpenAPI document, as it serves it."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body
