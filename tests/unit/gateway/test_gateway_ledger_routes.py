"""Gateway rules of purchases, refunds, reversals, limits and statements that hold before any
backend is asked, and the client's origin passed on with money movements."""

from __future__ import annotations

import httpx
import pytest

from .gateway_fakes import FakeCluster, bearer


def _with_key(headers: dict[str, str], key: str = "k-1") -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_money_movements_carry_the_clients_address_and_user_agent(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    headers = _with_key(bearer("alice")) | {"User-Agent": "shop-app/2.1 (\r\nsneaky)"}
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits", json={"amount": 5}, headers=headers
    )
    assert response.status_code == 201
    forwarded = cluster.requests[-1]
    assert forwarded.url.path.endswith("/deposits")
    assert forwarded.headers["x-client-address"] == "127.0.0.1"
    assert forwarded.headers["x-client-user-agent"] == "shop-app/2.1 ( sneaky)"


@pytest.mark.parametrize(
    ("role", "method", "suffix", "body"),
    [
        ("auditor", "POST", "purchases", {"amount": 5, "order_id": "o-1"}),
        ("user", "POST", "refunds", {"amount": 5, "purchase_id": "txn_x"}),
        ("auditor", "POST", "refunds", {"amount": 5, "purchase_id": "txn_x"}),
        ("user", "POST", "transactions/txn_x/reversal", {"reason": "oops"}),
        ("user", "PUT", "limits", {"daily": 5}),
        ("auditor", "PUT", "limits", {"daily": 5}),
    ],
)
async def test_roles_are_refused_before_any_backend_is_asked(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    role: str,
    method: str,
    suffix: str,
    body: dict[str, object],
) -> None:
    wallet = cluster.add_wallet("alice")
    caller = "alice" if role == "user" else "someone"
    response = await client.request(
        method,
        f"/v1/wallets/{wallet['id']}/{suffix}",
        json=body,
        headers=_with_key(bearer(caller, role)),
    )
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert cluster.requests == []


async def test_money_routes_need_a_key_and_statements_a_forward_period(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    purchase = await client.post(
        f"/v1/wallets/{wallet['id']}/purchases",
        json={"amount": 5, "order_id": "o-1"},
        headers=bearer("alice"),
    )
    assert (purchase.status_code, purchase.json()["code"]) == (400, "idempotency_key_required")
    statement = await client.get(
        f"/v1/wallets/{wallet['id']}/statement",
        params={"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
        headers=bearer("alice"),
    )
    assert (statement.status_code, statement.json()["code"]) == (422, "validation_error")
    balance = await client.get(f"/v1/wallets/{wallet['id']}/balance", headers=bearer("alice"))
    assert balance.status_code == 422
    assert cluster.requests == []
