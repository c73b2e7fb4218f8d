"""Wallet routes: role rules, routing, forwarded caller headers, idempotency, validation, and
what the client sees when a backend refuses or does not answer."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from gateway.bootstrap import create_app
from wallet_shared.contracts.ids import bucket_of_user, new_wallet_id
from wallet_shared.platform.service_auth import Caller

from tests.service_credentials import caller_of

from .gateway_fakes import FakeClock, FakeCluster, bearer, make_settings


def wallet_of_someone_in_another_bucket(cluster: FakeCluster, user_id: str) -> dict[str, Any]:
    for candidate in ("bob", "carol", "dave", "erin", "frank", "grace", "heidi"):
        if bucket_of_user(candidate) != bucket_of_user(user_id):
            return cluster.add_wallet(candidate)
    raise AssertionError("no other bucket found")


def with_key(headers: dict[str, str], key: str = "key-1") -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


# Creating and reading wallets.


async def test_a_user_creates_a_wallet_on_their_shard(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    response = await client.post(
        "/v1/wallets", json={"currency": "EUR", "label": "savings"}, headers=bearer("alice")
    )
    assert response.status_code == 201
    wallet = response.json()
    assert (wallet["user_id"], wallet["currency"], wallet["label"]) == ("alice", "EUR", "savings")
    assert wallet["id"] in cluster.shard_of("alice").wallets
    (request,) = cluster.requests
    assert orjson.loads(request.content) == {
        "user_id": "alice",
        "currency": "EUR",
        "label": "savings",
    }
    assert caller_of(request) == Caller("alice", "user", owner_scope="alice", service="gateway")


async def test_an_admin_creates_a_wallet_for_another_user(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    response = await client.post(
        "/v1/wallets", json={"currency": "USD", "user_id": "bob"}, headers=bearer("root", "admin")
    )
    assert response.status_code == 201
    assert response.json()["user_id"] == "bob"
    assert response.json()["id"] in cluster.shard_of("bob").wallets
    assert caller_of(cluster.requests[0]) == Caller("root", "admin", None, service="gateway")


@pytest.mark.parametrize(
    ("who", "body"),
    [
        (("alice", "user"), {"currency": "USD", "user_id": "bob"}),
        (("eve", "auditor"), {"currency": "USD"}),
    ],
)
async def test_creating_wallets_for_others_or_as_auditor_is_forbidden(
    client: httpx.AsyncClient, cluster: FakeCluster, who: tuple[str, str], body: dict[str, str]
) -> None:
    response = await client.post("/v1/wallets", json=body, headers=bearer(*who))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert cluster.requests == []


async def test_an_owner_reads_their_wallet(client: httpx.AsyncClient, cluster: FakeCluster) -> None:
    wallet = cluster.add_wallet("alice", balance=1500)
    response = await client.get(f"/v1/wallets/{wallet['id']}", headers=bearer("alice"))
    assert response.status_code == 200
    assert response.json() == wallet
    assert response.json()["balance"] == "1500"


async def test_someone_elses_wallet_is_404_without_asking_anyone(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    foreign = wallet_of_someone_in_another_bucket(cluster, "alice")
    response = await client.get(f"/v1/wallets/{foreign['id']}", headers=bearer("alice"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert foreign["user_id"] not in response.text
    assert cluster.requests == []


async def test_a_same_bucket_stranger_is_stopped_by_the_shards_owner_scope(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    # Two users can share a bucket; the shard's owner check is what keeps them apart.
    bucket = bucket_of_user("alice")
    twin = next(f"user{n}" for n in range(100_000) if bucket_of_user(f"user{n}") == bucket)
    wallet = cluster.add_wallet(twin)
    response = await client.get(f"/v1/wallets/{wallet['id']}", headers=bearer("alice"))
    assert response.status_code == 404
    assert caller_of(cluster.requests[0]).owner_scope == "alice"


@pytest.mark.parametrize("role", ["admin", "auditor"])
async def test_admins_and_auditors_read_any_wallet(
    client: httpx.AsyncClient, cluster: FakeCluster, role: str
) -> None:
    wallet = cluster.add_wallet("bob")
    response = await client.get(f"/v1/wallets/{wallet['id']}", headers=bearer("staff", role))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "wallet_id", ["nope", "wlt_123", "trf_" + "0" * 32, "wlt_fff" + "0" * 32, "%20", "a" * 300]
)
async def test_ids_of_the_wrong_form_are_404(
    client: httpx.AsyncClient, cluster: FakeCluster, wallet_id: str
) -> None:
    response = await client.get(f"/v1/wallets/{wallet_id}", headers=bearer("root", "admin"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert cluster.requests == []


async def test_an_unknown_wallet_is_the_shards_404_relayed(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/wallets/{new_wallet_id(3)}", headers=bearer("root", "admin"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# Moving money.


async def test_a_deposit_is_forwarded_with_the_key_and_replays(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    path = f"/v1/wallets/{wallet['id']}/deposits"
    body = {"amount": "1500", "reference": "top-up", "metadata": {"order": 7}}
    first = await client.post(path, json=body, headers=with_key(bearer("alice"), "dep-1"))
    assert first.status_code == 201
    assert first.json()["amount"] == "1500"
    assert first.json()["balance_after"] == "1500"
    claim, forwarded = cluster.requests[:2]
    assert claim.url.path == "/internal/idempotency-claims"
    assert [c["key"] for c in orjson.loads(claim.content)["claims"]] == ["dep-1"]
    assert forwarded.headers["idempotency-key"] == "dep-1"
    assert orjson.loads(forwarded.content) == {
        "amount": 1500,
        "reference": "top-up",
        "metadata": {"order": 7},
    }
    again = await client.post(path, json=body, headers=with_key(bearer("alice"), "dep-1"))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert cluster.shard_of("alice").wallets[wallet["id"]]["balance"] == "1500"


async def test_a_key_used_for_one_movement_is_refused_for_another_anywhere(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    first = cluster.add_wallet("root-owned-a")
    second = cluster.add_wallet("root-owned-b")
    admin = with_key(bearer("root", "admin"), "k-1")
    deposit = await client.post(
        f"/v1/wallets/{first['id']}/deposits", json={"amount": 5}, headers=admin
    )
    assert deposit.status_code == 201
    shard_calls = len([r for r in cluster.requests if "/internal/wallets/" in r.url.path])
    for path in (f"/v1/wallets/{second['id']}/deposits", f"/v1/wallets/{first['id']}/withdrawals"):
        reused = await client.post(path, json={"amount": 5}, headers=admin)
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
    assert len([r for r in cluster.requests if "/internal/wallets/" in r.url.path]) == shard_calls


async def test_a_business_refusal_passes_through_unchanged(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice", balance=10)
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/withdrawals",
        json={"amount": 11},
        headers=with_key(bearer("alice")),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_funds"
    assert response.json()["detail"] == "The wallet holds too little."


async def test_an_admin_may_deposit_into_any_wallet(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("bob")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        json={"amount": 5},
        headers=with_key(bearer("root", "admin")),
    )
    assert response.status_code == 201


async def test_auditors_move_no_money(client: httpx.AsyncClient, cluster: FakeCluster) -> None:
    wallet = cluster.add_wallet("bob")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        json={"amount": 5},
        headers=with_key(bearer("eve", "auditor")),
    )
    assert response.status_code == 403


async def test_a_deposit_without_idempotency_key_is_400(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits", json={"amount": 5}, headers=bearer("alice")
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert cluster.requests == []


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9"])
async def test_a_malformed_idempotency_key_is_422(
    client: httpx.AsyncClient, cluster: FakeCluster, key: str
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/withdrawals",
        json={"amount": 5},
        headers=[
            *((name.encode(), value.encode()) for name, value in bearer("alice").items()),
            (b"Idempotency-Key", key.encode("utf-8")),
        ],
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters"}
    ]


@pytest.mark.parametrize(
    "amount",
    [
        0,
        -1,
        "-1",
        1.5,
        10.0,
        "1e3",
        "12a",
        "",
        " 1",
        True,
        None,
        [1],
        {"v": 1},
        10**15 + 1,
        "9" * 40,
    ],
)
async def test_bad_amounts_are_422_on_amount(
    client: httpx.AsyncClient, cluster: FakeCluster, amount: object
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        json={"amount": amount},
        headers=with_key(bearer("alice")),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "amount"
    assert cluster.requests == []


async def test_the_configured_maximum_amount_applies(cluster: FakeCluster, clock: object) -> None:
    app = create_app(make_settings(cluster, max_amount=1000), backend_transport=cluster.transport())
    wallet = cluster.add_wallet("alice")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        path = f"/v1/wallets/{wallet['id']}/deposits"
        ok = await http.post(path, json={"amount": 1000}, headers=with_key(bearer("alice"), "a"))
        over = await http.post(path, json={"amount": 1001}, headers=with_key(bearer("alice"), "b"))
    assert ok.status_code == 201
    assert over.status_code == 422
    assert over.json()["errors"] == [{"field": "amount", "message": "must be at most 1000"}]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'"a string"', "body"),
        (b"null", "body"),
        (b"", "body"),
        (b'{"amount": 5, "metadata": "not an object"}', "metadata"),
        (b'{"amount": 5, "reference": 42}', "reference"),
        (b'{"amount": 5, "metadata": {"k": "' + b"x" * 5000 + b'"}}', "metadata"),
    ],
)
async def test_malformed_bodies_are_422_never_500(
    client: httpx.AsyncClient, cluster: FakeCluster, content: bytes, field: str
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        content=content,
        headers={**with_key(bearer("alice")), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": 840}, "currency"),
        ({"currency": "USD", "label": "x" * 101}, "label"),
        ({"currency": "USD", "user_id": "no spaces"}, "user_id"),
    ],
)
async def test_bad_wallet_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/wallets", json=body, headers=bearer("root", "admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_bodies_over_64_kib_are_413(client: httpx.AsyncClient, cluster: FakeCluster) -> None:
    wallet = cluster.add_wallet("alice")
    big = orjson.dumps({"amount": 5, "reference": "x" * (65 * 1024)})
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        content=big,
        headers={**with_key(bearer("alice")), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert cluster.requests == []


async def test_chunked_bodies_over_64_kib_are_413(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    async def chunks() -> Any:
        for _ in range(70):
            yield b"x" * 1024

    response = await client.post(
        "/v1/wallets",
        content=chunks(),
        headers={**bearer("alice"), "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_small_chunked_bodies_reach_the_route(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    async def chunks() -> Any:
        yield b'{"currency":'
        yield b' "USD"}'

    response = await client.post(
        "/v1/wallets",
        content=chunks(),
        headers={**bearer("alice"), "content-type": "application/json"},
    )
    assert response.status_code == 201


async def test_a_number_too_long_to_parse_is_400_not_500(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        content=b'{"amount": 1' + b"0" * 5000 + b"}",
        headers={**with_key(bearer("alice")), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


# Status changes and transactions.


@pytest.mark.parametrize(("action", "status"), [("freeze", "frozen"), ("close", "closed")])
async def test_admins_change_a_wallets_status(
    client: httpx.AsyncClient, cluster: FakeCluster, action: str, status: str
) -> None:
    wallet = cluster.add_wallet("bob")
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/{action}", headers=bearer("root", "admin")
    )
    assert response.status_code == 200
    assert response.json()["status"] == status


@pytest.mark.parametrize("role", ["user", "auditor"])
async def test_only_admins_change_a_wallets_status(
    client: httpx.AsyncClient, cluster: FakeCluster, role: str
) -> None:
    wallet = cluster.add_wallet("alice")
    for action in ("freeze", "unfreeze", "close"):
        response = await client.post(
            f"/v1/wallets/{wallet['id']}/{action}", headers=bearer("alice", role)
        )
        assert response.status_code == 403


async def test_transactions_are_listed_with_the_filters_forwarded(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.get(
        f"/v1/wallets/{wallet['id']}/transactions",
        params={
            "limit": 10,
            "type": "deposit",
            "since": "2025-01-01T00:00:00Z",
            "until": "2025-02-01T00:00:00+01:00",
            "cursor": "abc_-",
        },
        headers=bearer("alice"),
    )
    assert response.status_code == 200
    forwarded = cluster.requests[0].url.params
    assert dict(forwarded) == {
        "limit": "10",
        "type": "deposit",
        "since": "2025-01-01T00:00:00+00:00",
        "until": "2025-02-01T00:00:00+01:00",
        "cursor": "abc_-",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 500}, "limit"),
        ({"type": "gift"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-01-01T00:00:00"}, "since"),  # no offset: ambiguous
        ({"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "since"),
        ({"cursor": "has spaces"}, "cursor"),
    ],
)
async def test_bad_transaction_filters_are_422(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    params: dict[str, str | int | float],
    field: str,
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.get(
        f"/v1/wallets/{wallet['id']}/transactions", params=params, headers=bearer("alice")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert cluster.requests == []


# Backends that fail.


async def test_a_shard_that_does_not_answer_is_503_problem(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    cluster.down.add(f"shard-{cluster.shard_map.shard_for_user('alice')}.test")
    response = await client.get(f"/v1/wallets/{wallet['id']}", headers=bearer("alice"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert "shard" not in response.json()["detail"]


async def test_a_bare_backend_500_becomes_503(
    client: httpx.AsyncClient, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    wallet = cluster.add_wallet("alice")
    monkeypatch.setattr(cluster.shard_of("alice"), "handle", crash)
    response = await client.get(f"/v1/wallets/{wallet['id']}", headers=bearer("alice"))
    assert response.status_code == 503
    assert "html" not in response.text


async def test_a_backend_timeout_is_503(
    client: httpx.AsyncClient, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    wallet = cluster.add_wallet("alice")
    monkeypatch.setattr(cluster.shard_of("alice"), "handle", too_slow)
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/deposits",
        json={"amount": 1},
        headers=with_key(bearer("alice")),
    )
    assert response.status_code == 503
    assert "Idempotency-Key" in response.json()["detail"]


async def test_the_trace_id_travels_to_the_backend(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.get(
        f"/v1/wallets/{wallet['id']}", headers={**bearer("alice"), "X-Trace-Id": "trace-123"}
    )
    assert response.headers["x-trace-id"] == "trace-123"
    assert cluster.requests[0].headers["x-trace-id"] == "trace-123"


async def test_readiness_needs_every_backend(
    client: httpx.AsyncClient, cluster: FakeCluster, clock: FakeClock
) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    # Every backend, and the loop that ships the gateway's own audit records.
    assert set(ready.json()["checks"]) == {"shard-0", "shard-1", "coordinator", "audit_shipper"}
    cluster.down.add("coordinator.test")
    clock.advance(1.0)  # past the second a readiness answer is reused for
    not_ready = await client.get("/health/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["coordinator"] == "down"


async def test_an_unencoded_plus_in_a_timestamp_is_understood(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("alice")
    response = await client.get(
        f"/v1/wallets/{wallet['id']}/transactions?since=2025-01-01T10:00:00+02:00",
        headers=bearer("alice"),
    )
    assert response.status_code == 200
    assert cluster.requests[0].url.params["since"] == "2025-01-01T10:00:00+02:00"


async def test_a_route_called_before_the_backends_are_open_answers_503(
    app: FastAPI, cluster: FakeCluster
) -> None:
    """The lifespan has not run (the gateway starting or stopping): fail closed with a 503 the
    client may retry, never a 500 and never a request to a shard."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        response = await http.get("/v1/wallets", headers=bearer("alice"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert "Retry-After" in response.headers
    assert cluster.requests == []
