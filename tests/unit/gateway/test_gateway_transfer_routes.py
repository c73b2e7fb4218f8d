"""Transfer routes: checks before the coordinator, what it is sent, Prefer: wait, and who may
read a transfer."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from gateway.domain.known_wallets import KnownWallets, WalletFacts
from wallet_shared.contracts.ids import bucket_of_user, new_transfer_id, new_wallet_id

from tests.service_credentials import caller_of

from .gateway_fakes import FakeCluster, bearer, problem


def stranger_of(user_id: str) -> str:
    """A user in another bucket than `user_id`."""
    return next(
        name
        for name in ("bob", "carol", "dave", "erin", "frank")
        if bucket_of_user(name) != bucket_of_user(user_id)
    )


@pytest.fixture
def alice_wallet(cluster: FakeCluster) -> dict[str, Any]:
    return cluster.add_wallet("alice", currency="EUR", balance=1000)


@pytest.fixture
def bob_wallet(cluster: FakeCluster) -> dict[str, Any]:
    return cluster.add_wallet(stranger_of("alice"), currency="EUR")


def transfer(
    source: dict[str, Any], destination: dict[str, Any], amount: object = 250
) -> dict[str, Any]:
    return {
        "source_wallet_id": source["id"],
        "destination_wallet_id": destination["id"],
        "amount": amount,
        "description": "rent",
    }


def alice(key: str = "t-1", **extra: str) -> dict[str, str]:
    return {**bearer("alice"), "Idempotency-Key": key, **extra}


async def test_a_transfer_goes_to_the_coordinator_with_the_source_currency(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet, "250"), headers=alice()
    )
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert "preference-applied" not in response.headers
    (sent,) = cluster.requests_to("coordinator")
    assert orjson.loads(sent.content) == {
        "source_wallet_id": alice_wallet["id"],
        "destination_wallet_id": bob_wallet["id"],
        "amount": 250,
        "currency": "EUR",
        "description": "rent",
        "initiator": "alice",
    }
    assert sent.headers["idempotency-key"] == "t-1"
    assert caller_of(sent).user_id == "alice"
    assert "wait" not in sent.url.params
    # The source was looked up with the caller's owner scope.
    (lookup,) = cluster.requests_to("shard-")
    assert lookup.url.path == f"/internal/wallets/{alice_wallet['id']}"
    assert caller_of(lookup).owner_scope == "alice"


async def test_prefer_wait_is_passed_on_and_acknowledged(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice(Prefer="wait=5")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.headers["preference-applied"] == "wait=5"
    assert cluster.requests_to("coordinator")[0].url.params["wait"] == "5"


@pytest.mark.parametrize("prefer", ["wait=31", "wait=soon", "wait=-2"])
async def test_a_bad_prefer_wait_is_422(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
    prefer: str,
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice(Prefer=prefer)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Prefer"
    assert cluster.requests == []


async def test_the_same_wallet_on_both_sides_is_422_same_wallet(
    client: httpx.AsyncClient, cluster: FakeCluster, alice_wallet: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, alice_wallet), headers=alice()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "same_wallet"
    assert cluster.requests == []


async def test_a_destination_that_is_not_a_wallet_id_is_404_up_front(
    client: httpx.AsyncClient, cluster: FakeCluster, alice_wallet: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, {"id": "nobody"}), headers=alice()
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert cluster.requests == []


async def test_someone_elses_source_is_404(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(bob_wallet, alice_wallet), headers=alice()
    )
    assert response.status_code == 404
    assert cluster.requests_to("coordinator") == []


async def test_an_unknown_source_is_the_shards_404(
    client: httpx.AsyncClient, cluster: FakeCluster, bob_wallet: dict[str, Any]
) -> None:
    ghost = {"id": new_wallet_id(bucket_of_user("alice"))}
    response = await client.post("/v1/transfers", json=transfer(ghost, bob_wallet), headers=alice())
    assert response.status_code == 404
    assert cluster.requests_to("coordinator") == []


@pytest.mark.parametrize(
    ("caller", "status"),
    [(("root", "admin"), 202), (("eve", "auditor"), 403)],
    ids=["an admin may move anyone's money", "auditors may not transfer"],
)
async def test_who_besides_the_owner_may_transfer(
    client: httpx.AsyncClient,
    bob_wallet: dict[str, Any],
    alice_wallet: dict[str, Any],
    caller: tuple[str, str],
    status: int,
) -> None:
    response = await client.post(
        "/v1/transfers",
        json=transfer(bob_wallet, alice_wallet),
        headers={**bearer(*caller), "Idempotency-Key": "k-1"},
    )
    assert response.status_code == status


async def test_a_transfer_without_idempotency_key_is_400(
    client: httpx.AsyncClient, alice_wallet: dict[str, Any], bob_wallet: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=bearer("alice")
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 2.5}, "amount"),
        ({"amount": "2.50"}, "amount"),
        ({"amount": 10**16}, "amount"),
        ({"source_wallet_id": ""}, "source_wallet_id"),
        ({"destination_wallet_id": None}, "destination_wallet_id"),
        ({"description": "d" * 501}, "description"),
    ],
)
async def test_bad_transfer_bodies_are_422(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
    change: dict[str, object],
    field: str,
) -> None:
    response = await client.post(
        "/v1/transfers", json={**transfer(alice_wallet, bob_wallet), **change}, headers=alice()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert cluster.requests == []


async def test_a_coordinator_refusal_is_relayed(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        cluster.coordinator,
        "handle",
        lambda request: problem("idempotency_key_reused", "Another request used this key."),
    )
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_a_coordinator_that_does_not_answer_is_503(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    cluster.down.add("coordinator.test")
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice()
    )
    assert response.status_code == 503


# Reading transfers.


@pytest.fixture
async def started(
    client: httpx.AsyncClient, alice_wallet: dict[str, Any], bob_wallet: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice()
    )
    body: dict[str, Any] = response.json()
    return body


async def test_both_owners_admins_and_auditors_read_a_transfer(
    client: httpx.AsyncClient, bob_wallet: dict[str, Any], started: dict[str, Any]
) -> None:
    readers = [
        bearer("alice"),
        bearer(bob_wallet["user_id"]),
        bearer("root", "admin"),
        bearer("eve", "auditor"),
    ]
    for headers in readers:
        response = await client.get(f"/v1/transfers/{started['id']}", headers=headers)
        assert response.status_code == 200
        assert response.json() == started


async def test_a_stranger_gets_404_for_a_transfer(
    client: httpx.AsyncClient, cluster: FakeCluster, started: dict[str, Any]
) -> None:
    outsider = next(
        name
        for name in ("mallory", "trent", "peggy", "victor")
        if bucket_of_user(name)
        not in {bucket_of_user("alice"), bucket_of_user(stranger_of("alice"))}
    )
    response = await client.get(f"/v1/transfers/{started['id']}", headers=bearer(outsider))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "rent" not in response.text


@pytest.mark.parametrize("transfer_id", ["trf_1", "nope", new_wallet_id(1), "TRF_" + "0" * 32])
async def test_transfer_ids_of_the_wrong_form_are_404(
    client: httpx.AsyncClient, cluster: FakeCluster, transfer_id: str
) -> None:
    response = await client.get(f"/v1/transfers/{transfer_id}", headers=bearer("root", "admin"))
    assert response.status_code == 404
    assert cluster.requests == []


async def test_an_unknown_transfer_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/v1/transfers/{new_transfer_id()}", headers=bearer("root", "admin")
    )
    assert response.status_code == 404


async def test_the_transfers_of_a_wallet(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    started: dict[str, Any],
) -> None:
    response = await client.get(
        "/v1/transfers",
        params={"wallet_id": alice_wallet["id"], "limit": 5},
        headers=bearer("alice"),
    )
    assert response.status_code == 200
    assert response.json()["items"] == [started]
    # Sagas from the coordinator and local transfers from the wallet's shard, one extra item
    # each to tell whether a next page exists.
    for backend in ("coordinator", "shard"):
        listing = [r for r in cluster.requests_to(backend) if r.url.path == "/internal/transfers"]
        assert listing[-1].url.params["wallet_id"] == alice_wallet["id"]
        assert listing[-1].url.params["limit"] == "6"


async def test_the_transfers_of_someone_elses_wallet_are_404(
    client: httpx.AsyncClient, bob_wallet: dict[str, Any], started: dict[str, Any]
) -> None:
    response = await client.get(
        "/v1/transfers", params={"wallet_id": bob_wallet["id"]}, headers=bearer("alice")
    )
    assert response.status_code == 404


async def test_listing_transfers_needs_a_wallet_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/transfers", headers=bearer("root", "admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "wallet_id"


# What the gateway remembers about wallets.


async def test_repeat_transfers_from_a_wallet_skip_its_shard(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    for n in range(3):
        response = await client.post(
            "/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=alice(f"t-{n}")
        )
        assert response.status_code == 202
    assert len(cluster.requests_to("shard-")) == 1
    assert len(cluster.requests_to("coordinator")) == 3
    assert {orjson.loads(r.content)["currency"] for r in cluster.requests_to("coordinator")} == {
        "EUR"
    }


async def test_a_remembered_wallet_is_still_not_a_strangers(
    client: httpx.AsyncClient,
    cluster: FakeCluster,
    alice_wallet: dict[str, Any],
    bob_wallet: dict[str, Any],
) -> None:
    bucket = bucket_of_user("alice")
    twin = next(f"user{n}" for n in range(100_000) if bucket_of_user(f"user{n}") == bucket)
    admin = {**bearer("root", "admin"), "Idempotency-Key": "adm"}
    assert (
        await client.post("/v1/transfers", json=transfer(alice_wallet, bob_wallet), headers=admin)
    ).status_code == 202
    response = await client.post(
        "/v1/transfers",
        json=transfer(alice_wallet, bob_wallet),
        headers={**bearer(twin), "Idempotency-Key": "twin"},
    )
    assert response.status_code == 404
    assert len(cluster.requests_to("coordinator")) == 1


def test_known_wallets_stay_bounded() -> None:
    known = KnownWallets(capacity=2)
    known.remember("a", WalletFacts("alice", "USD"))
    known.remember("b", WalletFacts("bob", "USD"))
    assert known.get("a") == WalletFacts("alice", "USD")  # a is now the most recent
    known.remember("c", WalletFacts("carol", "EUR"))
    assert (known.get("a"), known.get("b"), len(known)) == (WalletFacts("alice", "USD"), None, 2)
