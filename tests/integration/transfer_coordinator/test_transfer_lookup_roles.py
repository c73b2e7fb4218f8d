"""`POST /internal/transfers/lookup` names any wallets' transfers: the coordinator answers it to
admins and auditors only, whoever holds a service credential."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from transfer_coordinator.entrypoints.http import router
from wallet_shared.contracts.schemas import Role
from wallet_shared.platform.http import ReadinessCheck, create_service_app
from wallet_shared.platform.service_auth import ServiceTokenVerifier

from tests.integration.transfer_coordinator.harness import Harness
from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential, internal_headers


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def _no_checks(_: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {}


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        service="coordinator-test",
        title="t",
        lifespan=_no_lifespan,
        readiness=_no_checks,
        service_credentials=ServiceTokenVerifier(secret=TEST_INTERNAL_SECRET),
    )
    app.include_router(router)
    app.state.coordinator = harness.ctx
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://coordinator",
        auth=ServiceCredential(),
    ) as http:
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
