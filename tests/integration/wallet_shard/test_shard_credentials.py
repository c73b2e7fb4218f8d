"""A shard serves only callers with a valid service credential (wallet_shared.platform.service_auth): every
route but health and metrics refuses anything else with 401, before reading the body, and
nothing moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.service_credentials import (
    ServiceCredential,
    internal_headers,
    refused_credentials,
)

from .conftest import Shard, users_of_shard

ALICE = users_of_shard(0)[0]
REFUSED = refused_credentials()


@pytest.fixture
async def client(shard: Shard) -> AsyncIterator[httpx.AsyncClient]:
    # No default credential: each request says what it carries.
    async with shard.http_client() as http:
        yield http


@pytest.mark.parametrize("credential", list(REFUSED), ids=list(REFUSED))
async def test_a_deposit_without_a_valid_credential_is_refused_and_moves_nothing(
    client: httpx.AsyncClient, credential: str
) -> None:
    admin = ServiceCredential()
    created = await client.post(
        "/internal/wallets", json={"user_id": ALICE, "currency": "USD"}, auth=admin
    )
    wallet = f"/internal/wallets/{created.json()['id']}"
    refused = await client.post(
        f"{wallet}/deposits",
        # Not even JSON: a 422 would mean the body was read before the caller was known.
        content=b"{not json",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json", **REFUSED[credential]},
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["code"] == "unauthorized"
    assert (await client.get(wallet, auth=admin)).json()["balance"] == "0"
    assert (await client.get(f"{wallet}/transactions", auth=admin)).json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/wallets"),
        ("GET", "/internal/integrity"),
        ("GET", "/internal/dead-letters"),
        ("POST", "/internal/dead-letters/1/replay"),
        ("GET", "/internal/transfers"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/no-such-route"),
    ],
)
async def test_every_route_needs_a_credential(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for headers in (REFUSED["none"], REFUSED["public_token"]):
        assert (await client.request(method, path, headers=headers)).status_code == 401


async def test_health_and_metrics_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    # Not ready without its lifespan, but answered: probes carry no credential.
    assert (await client.get("/health/ready")).status_code == 503


async def test_the_credential_names_the_caller_the_shard_acts_for(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/internal/wallets",
        json={"user_id": ALICE, "currency": "USD"},
        headers=internal_headers(ALICE, "user", owner_scope=ALICE),
    )
    wallet = f"/internal/wallets/{created.json()['id']}"
    other = internal_headers("someone-else", "user", owner_scope="someone-else")
    assert (await client.get(wallet, headers=other)).status_code == 404
    mine = internal_headers(ALICE, "user", owner_scope=ALICE)
    assert (await client.get(wallet, headers=mine)).status_code == 200
