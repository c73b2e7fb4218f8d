"""The shard's internal HTTP routes in process (ASGI), on a real database: parsing, validation,
problem responses, idempotency headers, JSON shapes. Kafka is not involved: the app's lifespan is
not run, the test hands the routes the unit of work itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from wallet_shard.service_layer.transfer_commands import handle_transfer_commands
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.messages import TryDebit

from tests.service_credentials import ServiceCredential, internal_headers

from .conftest import Shard, users_of_shard

ALICE, BOB = users_of_shard(0)[:2]


@pytest.fixture
async def client(shard: Shard) -> AsyncIterator[httpx.AsyncClient]:
    async with shard.http_client(auth=ServiceCredential()) as http:
        yield http


async def new_wallet(client: httpx.AsyncClient, user: str = ALICE, currency: str = "USD") -> str:
    response = await client.post(
        "/internal/wallets", json={"user_id": user, "currency": currency, "label": "main"}
    )
    assert response.status_code == 201, response.text
    wallet_id: str = response.json()["id"]
    return wallet_id


async def test_wallet_money_and_lists_through_http(client: httpx.AsyncClient) -> None:
    wallet_id = await new_wallet(client)
    deposit = await client.post(
        f"/internal/wallets/{wallet_id}/deposits",
        json={"amount": "1500", "reference": "r1", "metadata": {"order": 7}},
        headers={"Idempotency-Key": "d1", **internal_headers(ALICE)},
    )
    assert deposit.status_code == 201, deposit.text
    body = deposit.json()
    assert (body["type"], body["amount"], body["balance_after"]) == ("deposit", "1500", "1500")
    assert body["metadata"] == {"order": 7}
    replay = await client.post(
        f"/internal/wallets/{wallet_id}/deposits",
        json={"amount": 1500, "reference": "r1", "metadata": {"order": 7}},
        headers={"Idempotency-Key": "d1", **internal_headers(ALICE)},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == body

    overdraw = await client.post(
        f"/internal/wallets/{wallet_id}/withdrawals",
        json={"amount": 1501},
        headers={"Idempotency-Key": "w1"},
    )
    assert overdraw.status_code == 422
    assert overdraw.headers["content-type"].startswith("application/problem+json")
    assert overdraw.json()["code"] == "insufficient_funds"

    wallet = (await client.get(f"/internal/wallets/{wallet_id}")).json()
    assert {k: wallet[k] for k in ("balance", "available_balance", "frozen_balance", "status")} == {
        "balance": "1500",
        "available_balance": "1500",
        "frozen_balance": "0",
        "status": "active",
    }
    listed = (await client.get("/internal/wallets", params={"user_id": ALICE})).json()
    assert [w["id"] for w in listed["items"]] == [wallet_id]
    history = await client.get(
        f"/internal/wallets/{wallet_id}/transactions",
        params={"type": "deposit", "since": "2000-01-01T00:00:00Z", "limit": 1},
    )
    assert history.status_code == 200, history.text
    assert [t["id"] for t in history.json()["items"]] == [body["id"]]


async def test_holds_show_as_frozen_balance(client: httpx.AsyncClient, shard: Shard) -> None:
    wallet_id = await new_wallet(client)
    await client.post(
        f"/internal/wallets/{wallet_id}/deposits",
        json={"amount": 1000},
        headers={"Idempotency-Key": "k"},
    )
    hold = TryDebit(transfer_id=new_transfer_id(), wallet_id=wallet_id, amount=400, currency="USD")
    await handle_transfer_commands(shard.uow, shard.context, [hold])
    wallet = (await client.get(f"/internal/wallets/{wallet_id}")).json()
    assert (wallet["balance"], wallet["frozen_balance"], wallet["available_balance"]) == (
        "1000",
        "400",
        "600",
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("post", "deposits", {"json": {"amount": 5}}, 400, "idempotency_key_required"),
        (
            "post",
            "deposits",
            {"json": {"amount": 0}, "headers": {"Idempotency-Key": "a"}},
            422,
            "validation_error",
        ),
        (
            "post",
            "deposits",
            {"json": {"amount": 1.5}, "headers": {"Idempotency-Key": "b"}},
            422,
            "validation_error",
        ),
        (
            "post",
            "deposits",
            {"json": {"amount": 10**15 + 1}, "headers": {"Idempotency-Key": "c"}},
            422,
            "validation_error",
        ),
        ("get", "transactions", {"params": {"limit": 0}}, 422, "validation_error"),
        ("get", "transactions", {"params": {"limit": 201}}, 422, "validation_error"),
        ("get", "transactions", {"params": {"type": "gift"}}, 422, "validation_error"),
        ("get", "transactions", {"params": {"since": "yesterday"}}, 422, "validation_error"),
        (
            "get",
            "transactions",
            {"params": {"until": "2024-01-01T00:00:00"}},
            422,
            "validation_error",
        ),
        ("get", "transactions", {"params": {"cursor": "!!"}}, 422, "validation_error"),
    ],
)
async def test_invalid_requests_are_problems(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    code: str,
) -> None:
    wallet_id = await new_wallet(client)
    response = await getattr(client, method)(f"/internal/wallets/{wallet_id}/{path}", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_the_owner_scope_hides_other_users_wallets(client: httpx.AsyncClient) -> None:
    wallet_id = await new_wallet(client, BOB)
    alice_only = internal_headers(ALICE, "user", owner_scope=ALICE)
    for response in (
        await client.get(f"/internal/wallets/{wallet_id}", headers=alice_only),
        await client.get(f"/internal/wallets/{wallet_id}/transactions", headers=alice_only),
        await client.post(
            f"/internal/wallets/{wallet_id}/deposits",
            json={"amount": 5},
            headers={**alice_only, "Idempotency-Key": "x"},
        ),
        await client.get("/internal/wallets/not-a-wallet"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


async def test_status_changes_and_integrity(client: httpx.AsyncClient) -> None:
    wallet_id = await new_wallet(client)
    frozen = await client.post(f"/internal/wallets/{wallet_id}/freeze")
    assert frozen.json()["status"] == "frozen"
    refused = await client.post(
        f"/internal/wallets/{wallet_id}/deposits",
        json={"amount": 5},
        headers={"Idempotency-Key": "f"},
    )
    assert refused.json()["code"] == "wallet_not_active"
    assert (await client.post(f"/internal/wallets/{wallet_id}/unfreeze")).json()[
        "status"
    ] == "active"
    assert (await client.post(f"/internal/wallets/{wallet_id}/close")).json()["status"] == "closed"
    report = await client.get("/internal/integrity")
    assert report.status_code == 200
    assert report.json()["problems"] == []
    assert report.json()["consistent"] is True
