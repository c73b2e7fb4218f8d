"""The coordinator serves only callers with a valid service credential: every route but health
and metrics refuses anything else with 401, before reading the body, and no transfer starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from transfer_coordinator.bootstrap import create_app
from transfer_coordinator.service_layer.transfers import TransferStarts
from transfer_coordinator.service_layer.waiting import FinalWaiters
from transfer_coordinator.settings import CoordinatorSettings

from tests.integration.transfer_coordinator.harness import Harness, wallet_on_shard
from tests.service_credentials import TEST_INTERNAL_SECRET, internal_headers, refused_credentials

REFUSED = refused_credentials()
BODY = {
    "source_wallet_id": wallet_on_shard(0),
    "destination_wallet_id": wallet_on_shard(1),
    "amount": 100,
    "currency": "USD",
}


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    settings = CoordinatorSettings(
        shard_count=2, topic_prefix="tc.", internal_secret=TEST_INTERNAL_SECRET
    )
    app = create_app(settings)
    app.state.coordinator, app.state.final_waiters = harness.ctx, FinalWaiters()
    app.state.transfer_starts = TransferStarts(harness.ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as http:
        yield http


@pytest.mark.parametrize("credential", list(REFUSED), ids=list(REFUSED))
async def test_a_transfer_without_a_valid_credential_is_refused_and_never_starts(
    client: httpx.AsyncClient, harness: Harness, credential: str
) -> None:
    refused = await client.post(
        "/internal/transfers",
        json=BODY,
        headers={"Idempotency-Key": "k", **REFUSED[credential]},
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "unauthorized"
    assert await harness.pool.fetchval("SELECT count(*) FROM transfers") == 0
    assert await harness.take_outbox() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/internal/idempotency-claims"),
        ("POST", "/internal/integrity"),
        ("GET", "/internal/transfers"),
        ("GET", "/internal/dead-letters"),
        ("POST", "/internal/dead-letters/1/replay"),
        ("GET", "/openapi.json"),
    ],
)
async def test_every_route_needs_a_credential(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for name in ("none", "expired", "public_token"):
        response = await client.request(method, path, content=b"{", headers=REFUSED[name])
        assert response.status_code == 401, (name, response.text)


async def test_health_and_metrics_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/health/ready")).status_code == 503  # answered, not refused


async def test_a_valid_credential_is_served(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k", **internal_headers("alice", "user", owner_scope="alice")}
    assert (await client.post("/internal/transfers", json=BODY, headers=headers)).status_code == 202
