"""`POST /internal/transfers/lookup` names any wallets' transfers: the coordinator answers it to
admins and auditors only, whoever holds a service credential."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from wallet_shared.contracts.schemas import Role

from tests.integration.transfer_coordinator.harness import Harness, internal_app, internal_client
from tests.service_credentials import internal_headers


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with internal_client(internal_app(harness)) as http:
        yield http


async def test_a_user_credential_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/transfers/lookup",
        json={"transfer_ids": ["trf_1"]},
        headers=internal_headers("alice", "user", owner_scope="alice"),
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("role", ["admin", "auditor"])
async def test_admins_and_auditors_are_answered(client: httpx.AsyncClient, role: Role) -> None:
    response = await client.post(
        "/internal/transfers/lookup",
        json={"transfer_ids": ["trf_unknown"]},
        headers=internal_headers("ops", role),
    )
    assert response.status_code == 200
    assert response.json() == {"items": []}
